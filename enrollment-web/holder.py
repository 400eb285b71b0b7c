"""The resident without an officer, at any hour (``ra.holder``): coming back to their
certificates with the pickup code and the revocation password, and the public "revoke my
certificate" page (serial + revocation password, a confirmation step, the reason in plain
Polish mapped to its RFC 5280 name). Each form is POST-redirect-GET with an idempotency key
(``once``, claimed for the visitor): a double click opens one session, revokes once and shows
the same result."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, StringField

from ca.errors import AlreadyRevoked, BackedOff, RegCAError, Unauthorized
from enrollment_web.forms import add_error, at_most, mark_first_error, required
from enrollment_web.guessing import backed_off_field, client_source
from enrollment_web.i18n import t
from enrollment_web.messages import explain
from enrollment_web.once import current_key, once, remember, result
from enrollment_web.resident import open_resident_session
from enrollment_web.services import authority, store
from ra import holder
from ra.access import Caller
from ra.certificates import show

__all__ = ["bp", "HOLDER_REASON_LABELS"]

bp = Blueprint("holder", __name__)

# What a resident is asked, and the RFC 5280 §5.3.1 reason it is recorded as (ra.enrolment's
# HOLDER_REASONS, in the order a person thinks of them).
HOLDER_REASON_LABELS = {
    "keyCompromise": ("utrata lub kompromitacja klucza (zgubiony lub skradziony nośnik, ktoś "
                      "mógł poznać PIN)",
                      "key lost or compromised (token lost or stolen, someone may know the "
                      "PIN)"),
    "affiliationChanged": ("zmiana danych (np. nazwiska)", "my details changed (e.g. surname)"),
    "superseded": ("zastąpiony nowym certyfikatem", "replaced by a new certificate"),
    "cessationOfOperation": ("zaprzestanie używania", "I no longer use it"),
    "unspecified": ("bez podania przyczyny", "no reason given"),
}
_CONFIRM_WITHIN = dt.timedelta(minutes=10)  # a proven holder's confirmation step


def reason_label(reason: str | None) -> str:
    pl, en = HOLDER_REASON_LABELS.get(reason or "", (reason or "", reason or ""))
    return t(pl, en)


class ReturnForm(FlaskForm):
    code = StringField("code", validators=[
        required("Wpisz kod odbioru.", "Enter the pickup code."), at_most(32)])
    password = PasswordField("password", validators=[
        required("Wpisz hasło do unieważnienia.", "Enter the revocation password."),
        at_most(200)])


class PublicRevokeForm(FlaskForm):
    serial = StringField("serial", validators=[
        required("Wpisz numer seryjny certyfikatu.", "Enter the certificate's serial number."),
        at_most(64)])
    password = PasswordField("password", validators=[
        required("Wpisz hasło do unieważnienia.", "Enter the revocation password."),
        at_most(200)])
    reason = RadioField("reason", choices=list(HOLDER_REASON_LABELS),
                        validators=[required("Wybierz powód.", "Choose a reason.")])


class ConfirmForm(FlaskForm):
    """The confirmation button: its CSRF token only."""


def _not_recognised(what: str) -> str:
    return t(f"{what} albo hasło do unieważnienia jest nieprawidłowe.",
             f"The {'pickup code' if what == 'Kod odbioru' else 'serial number'} or the "
             "revocation password is not right.")


def _page(template: str, form, status: int, headers: dict | None = None):
    """The form again, its errors next to their fields (WCAG 3.3.1), the first one focused.
    A refused secret is said at the password, whichever of the two was wrong."""
    mark_first_error(form)
    return render_template(template, form=form, error=None), status, headers or {}


@bp.route("/return", methods=["GET", "POST"])
@once(by_visitor=True)
def come_back():
    """The pickup code and the revocation password open the resident's page again, any day."""
    form = ReturnForm()
    if not form.validate_on_submit():
        return _page("holder_return.html", form, 400 if form.is_submitted() else 200)
    try:
        enrolment_id = holder.come_back(authority(), form.code.data, form.password.data,
                                        client_source())
    except BackedOff as exc:
        return _page("holder_return.html", form, *backed_off_field(form, "password", exc))
    except Unauthorized:
        add_error(form, "password", _not_recognised("Kod odbioru"))
        return _page("holder_return.html", form, 401)
    open_resident_session(enrolment_id)
    return redirect(url_for("resident.mine"), 303)


@bp.route("/revoke", methods=["GET", "POST"])
@once(by_visitor=True)
def revoke():
    """Step 1: prove the certificate is yours and say why; nothing is revoked yet."""
    form = PublicRevokeForm()
    form.reason.choices = [(k, reason_label(k)) for k in HOLDER_REASON_LABELS]
    if not form.validate_on_submit():
        return _page("holder_revoke.html", form, 400 if form.is_submitted() else 200)
    try:
        found = holder.check_holder(authority(), form.serial.data, form.password.data,
                                    client_source())
    except ValueError:
        add_error(form, "serial", t("Numer seryjny to liczba szesnastkowa, np. 1a2b3c…",
                                    "A serial number is hexadecimal, e.g. 1a2b3c…"))
        return _page("holder_revoke.html", form, 400)
    except BackedOff as exc:
        return _page("holder_revoke.html", form, *backed_off_field(form, "password", exc))
    except Unauthorized:
        add_error(form, "password", _not_recognised("Numer seryjny"))
        return _page("holder_revoke.html", form, 401)
    session["holder_revoke"] = {"serial": found.certificate.serial,
                                "enrolment": found.enrolment_id,
                                "reason": form.reason.data,
                                "at": authority().now().isoformat()}
    return redirect(url_for("holder.confirm"), 303)


def _proven():
    """The holder's proof from step 1, while it is fresh; None otherwise."""
    proof = session.get("holder_revoke")
    if not proof:
        return None
    if authority().now() - dt.datetime.fromisoformat(proof["at"]) > _CONFIRM_WITHIN:
        session.pop("holder_revoke", None)
        return None
    return proof


@bp.route("/revoke/confirm", methods=["GET", "POST"])
@once(by_visitor=True)
def confirm():
    """Step 2: the page names the certificate, the reason and what revoking does; only its
    button revokes."""
    proof = _proven()
    if proof is None:
        return redirect(url_for("holder.revoke"))
    form = ConfirmForm()
    if form.validate_on_submit():
        session.pop("holder_revoke", None)
        try:
            holder.revoke_as_holder(authority(), proof["enrolment"], proof["serial"],
                                    proof["reason"])
        except AlreadyRevoked:
            pass  # a second click, or revoked meanwhile: the outcome the holder asked for
        except RegCAError as exc:
            return render_template("holder_revoked.html", serial=proof["serial"],
                                   reason=None, error=explain(exc)[1]), 409
        # the result lives with the form's key, not in the cookie: a double click's second
        # answer (the first one's cookie never reached the browser) leads to the same page
        remember(serial=proof["serial"], reason=proof["reason"])
        return redirect(url_for("holder.done", done=current_key()), 303)
    return render_template("holder_confirm.html", form=form, serial=proof["serial"],
                           reason=reason_label(proof["reason"]),
                           subject=_subject(proof), rfc_reason=proof["reason"])


def _subject(proof) -> str:
    """The certificate's subject, read again: the session cookie is signed, not secret, so it
    carries no name or PESEL."""
    try:
        return show(store(), Caller.resident(proof["enrolment"]), proof["serial"]).subject
    except RegCAError:
        return ""


@bp.route("/revoke/done")
def done():
    revoked = result(request.args.get("done"), by_visitor=True)
    if not revoked:
        return redirect(url_for("holder.revoke"))
    session.pop("holder_revoke", None)  # spent: this page's cookie is the one that arrives
    return render_template("holder_revoked.html", serial=revoked["serial"],
                           reason=reason_label(revoked["reason"]), error=None)
