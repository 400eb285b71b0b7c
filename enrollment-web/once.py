"""POST-redirect-GET with an idempotency key per rendered form (issue 18).

Each form the pages render carries ``form_key``: a random key signed with the session key, so
only keys this site rendered are accepted. A view wrapped in ``once`` claims the key in the
database before it acts (``ra.submissions``); a second submission of the same form (a double
click, a reload, the back button) is sent to where the first one led and acts on nothing.
The result page finds what to show through the key (``?done=``): a success message and, for
a short while, a secret such as a pickup code, kept encrypted.

A key is claimed for whoever submits it: the logged-in actor, or the visitor, a random id kept
in the signed session cookie from the form's rendering on, so that two submissions from one
browser are one visitor's. The forms of the public pages (the pickup, the resident's return, the
public revoke page) and of the log-in steps are the visitor's (``once(by_visitor=True)``): their
first submission signs the visitor in, and the second, sent with the same cookie, must still
be the same claimant's.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import time

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app, g, redirect, request, session
from itsdangerous import BadSignature, URLSafeSerializer

from enrollment_web.errorpages import error_page
from enrollment_web.i18n import t
from enrollment_web.services import authority, store
from ra import submissions

__all__ = ["form_key", "once", "current_key", "remember", "seal", "result", "SECRET_SECONDS"]

SECRET_SECONDS = 30 * 60  # a pickup code or SO PIN can be shown again this long, then never
_WAIT_STEPS, _WAIT_STEP = 150, 0.2  # a second click waits up to 30 s for the first to finish


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="regca-form-key")


_VISITOR = "visitor"  # the session's anonymous visitor id


def _visitor() -> str:
    return "visitor:" + session.setdefault(_VISITOR, secrets.token_hex(16))


def _who() -> str:
    """Who claims a key: the logged-in actor, else this browser's visitor id."""
    from enrollment_web.auth import current_actor  # auth's log-in steps are ``once`` too
    actor = current_actor()
    return actor.audit_name if actor is not None else _visitor()


def form_key() -> str:
    """A fresh key for one rendered form (a Jinja global: ``_macros.html``'s form_guard)."""
    _visitor()  # the visitor's id goes out with the form, before any submission
    return _signer().dumps(secrets.token_hex(16))


def _fernet() -> Fernet:
    secret = current_app.secret_key
    secret = secret if isinstance(secret, bytes) else secret.encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"regca-form-secret\0" + secret)
                                           .digest()))


def _now() -> int:
    return int(store().now().timestamp())


def seal(secret: str) -> str:
    """A secret for the result page, readable only with this home's key and only for
    ``SECRET_SECONDS``."""
    return _fernet().encrypt_at_time(secret.encode(), _now()).decode()


def unseal(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return _fernet().decrypt_at_time(token.encode(), SECRET_SECONDS, _now()).decode()
    except InvalidToken:
        return None


def current_key() -> str:
    return g.form_key


def remember(**payload) -> None:
    """What the result page shows for this submission (JSON; secrets through ``seal``)."""
    g.once_payload.update(payload)


def result(key: str | None, *, by_visitor: bool = False) -> dict | None:
    """The payload of this visitor's submission ``key``, or None (``by_visitor``: of a form
    claimed as ``once(by_visitor=True)`` claims it)."""
    if not key:
        return None
    found = submissions.earlier(store(), key, _visitor() if by_visitor else _who())
    if found is None or not found.payload:
        return None
    return json.loads(found.payload)


def _stale():
    return error_page(400, t("Ten formularz jest nieaktualny. Otwórz stronę ponownie i wypełnij "
                             "go jeszcze raz.",
                             "This form is out of date. Open the page again and fill it in."))


def once(view=None, *, by_visitor: bool = False):
    """Act on a POST once per rendered form; a redirect answer is the form's result.
    ``by_visitor``: the key is this browser's, whoever the session signs in meanwhile."""
    if view is None:
        return functools.partial(once, by_visitor=by_visitor)

    @functools.wraps(view)
    def inner(*args, **kwargs):
        if request.method != "POST":
            return view(*args, **kwargs)
        try:
            key = _signer().loads(request.form.get("form_key", ""))
        except BadSignature:
            return _stale()
        actor = _visitor() if by_visitor else _who()
        for _ in range(_WAIT_STEPS):
            earlier = submissions.claim(authority(), key, actor)
            if earlier is None:
                break
            if earlier.result:
                return redirect(earlier.result, 303)
            time.sleep(_WAIT_STEP)  # the first submission is still at work
        else:
            return error_page(409, t("Ten formularz jest jeszcze przetwarzany; odśwież stronę "
                                     "za chwilę.", "This form is still being processed; reload "
                                     "the page in a moment."))
        g.form_key, g.once_payload = key, {}
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            submissions.release(authority(), key)
            raise
        if 300 <= response.status_code < 400 and response.location:
            submissions.complete(authority(), key, response.location,
                                 json.dumps(g.once_payload) if g.once_payload else None)
        else:
            submissions.release(authority(), key)
        return response
    return inner
