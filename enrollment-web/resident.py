"""Resident self-service: a one-time pickup code opens a session bound to that resident's own
enrolment; nothing here searches people by name or PESEL (issue 6, privacy). Revoking is
asked for on a page of its own that says what happens (issue 18)."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)

from ca.errors import BackedOff, Forbidden, NotFound, RegCAError, Unauthorized
from ca.serials import parse_serial
from enrollment_web.auth import begin_session, current_actor, end_session, require
from enrollment_web.errorpages import error_page, form_status
from enrollment_web.forms import PickupForm, ResidentRevokeForm, add_error, mark_first_error
from enrollment_web.guessing import backed_off_field, client_source
from enrollment_web.i18n import t
from enrollment_web.messages import explain
from enrollment_web.once import current_key, once, remember, result
from enrollment_web.services import authority, sessions, store
from ra import certificates
from ra import enrolment as enrol

__all__ = ["bp", "open_resident_session"]

bp = Blueprint("resident", __name__)
_FORMATS = {"pem": "application/x-pem-file", "der": "application/pkix-cert",
            "p7b": "application/pkcs7-mime"}



@bp.route("/pickup", methods=["GET", "POST"])
@once(by_visitor=True)  # a double click opens one session, redeems the code once
def pickup():
    """A refused code is said next to the field (WCAG 3.3.1), never only above the form."""
    form, status, headers = PickupForm(), 200, {}
    if form.validate_on_submit():
        try:
            enrolment_id = enrol.redeem_pickup(authority(), form.code.data, client_source())
        except BackedOff as exc:
            status, headers = backed_off_field(form, "code", exc)
        except enrol.PickupExpired:
            status = 401
            add_error(form, "code", t(
                "Kod odbioru wygasł. Nowy kod wyda urzędnik w urzędzie, w którym "
                "złożono wniosek.",
                "The pickup code has expired. An officer at the office where you applied "
                "can give you a new one."))
        except RegCAError:
            status = 401
            add_error(form, "code", t(
                "Kod odbioru jest nieprawidłowy albo został już użyty. Nowy kod wyda urzędnik.",
                "The pickup code is not valid or was already used. An officer can give you a "
                "new one."))
        else:
            open_resident_session(enrolment_id)
            return redirect(url_for("resident.mine"))
    elif form.is_submitted():
        status = 400
    mark_first_error(form)
    return render_template("pickup.html", form=form, error=None), status, headers


def open_resident_session(enrolment_id: int) -> None:
    """A fresh session bound to this resident's enrolment only (the pickup code, or the code
    and the revocation password, ``enrollment_web.holder``)."""
    begin_session(sessions().open_resident(enrolment_id))  # kept in the store (ra.sessions)


def _serial(text: str) -> str:
    """A serial from the address; one that cannot be one is no page at all."""
    try:
        return parse_serial(text)
    except ValueError:
        abort(404)


def _theirs(caller, serial: str):
    """The resident's own certificate; for any other the core's NotFound goes on to the error
    page, which says in the visitor's language that they have no such certificate."""
    try:
        return certificates.show(store(), caller, serial)
    except Forbidden:
        abort(404)


@bp.route("/my")
@require("resident")
def mine(status: int = 200, **extra):
    actor = current_actor()
    e = enrol.visible(store(), actor.enrolment, None)
    certs = certificates.of_enrolment(store(), actor.caller, e.id, issued_only=True)
    done = result(request.args.get("done")) or {}
    return render_template("resident.html", e=e, certs=certs, success=done.get("message"),
                           **extra), status


@bp.route("/my/certificates/<serial>.<fmt>")
@require("resident")
def download(serial: str, fmt: str):
    if fmt not in certificates.FORMATS:
        abort(404)
    caller, serial = current_actor().caller, _serial(serial)
    _theirs(caller, serial)
    try:
        d = certificates.download(authority(), caller, serial, fmt)
    except NotFound:
        if fmt != "proof":
            raise
        # the log signs a new head within its maximum merge delay (CONTRACT.md: 60 s)
        return error_page(404, t(
            "Dowód wpisu do dziennika przejrzystości będzie gotowy w ciągu minuty od wydania "
            "certyfikatu. Spróbuj ponownie za chwilę.",
            "The transparency log inclusion proof is ready within a minute of issuance. Try "
            "again shortly."))
    return Response(d.body, mimetype=d.media_type, headers={
        "Content-Disposition": f'attachment; filename="{d.filename}"'})


@bp.route("/my/certificates/<serial>/revoke", methods=["GET", "POST"])
@require("resident")
@once
def revoke(serial: str):
    """The revocation's own page: which certificate, that it cannot be undone, the password."""
    serial = _serial(serial)
    caller = current_actor().caller
    cert = _theirs(caller, serial)  # before the form
    form, status, headers = ResidentRevokeForm(), 200, {}
    if form.validate_on_submit():
        try:
            certificates.revoke(authority(), caller, serial, "unspecified",
                                password=form.password.data, source=client_source())
        except BackedOff as exc:
            status, headers = backed_off_field(form, "password", exc)
        except RegCAError as exc:
            status = form_status(exc)
            _, message = explain(exc)
            if isinstance(exc, Unauthorized):
                message = t("Nieprawidłowe hasło do unieważnienia.", "Wrong revocation password.")
            add_error(form, "password", message)
        else:
            remember(message=t(f"Certyfikat {serial} został unieważniony.",
                               f"Certificate {serial} was revoked."))
            return redirect(url_for("resident.mine", done=current_key()), 303)
    elif form.is_submitted():
        status = 400
    mark_first_error(form)
    return render_template("resident_revoke.html", cert=cert, form=form), status, headers


@bp.route("/my/logout", methods=["POST"])
def leave():
    end_session()
    return redirect(url_for("public.index"))
