"""The officer's renewal form on an enrolment's page: pick a valid certificate, then either a
CSR file or the PIN of the registry token that holds it. The old certificate is not revoked."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import PasswordField, SelectField
from wtforms.validators import Optional

from ca.errors import RegCAError
from ca.serials import parse_serial
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import form_status
from enrollment_web.forms import add_error, at_most, mark_first_error
from enrollment_web.i18n import local_time, t
from enrollment_web.messages import explain
from enrollment_web.names import profile_name
from enrollment_web.officer import enrolment_page
from enrollment_web.once import current_key, once, remember
from enrollment_web.services import authority, store
from ra import certificates, renewal
from ra import enrolment as enrol
from ra.token import TokenRef

__all__ = ["bp", "RenewForm"]

bp = Blueprint("renewal", __name__)


class RenewForm(FlaskForm):
    serial = SelectField("serial", choices=[])
    csr = FileField("csr")
    pin = PasswordField("pin", validators=[Optional(), at_most(64)])


def renew_form(enrolment_id: int, certs, sent: bool = False) -> RenewForm:
    """The renewal form offering ``certs``' valid ones; with ``sent``, as the request sent it."""
    form = RenewForm(prefix="renew") if sent else RenewForm(formdata=None, prefix="renew")
    form.serial.choices = [(c.serial, f"{profile_name(c.profile)} {c.serial} "
                                      f"({t('do', 'until')} {local_time(c.not_after, '%Y-%m-%d')})")
                           for c in certs if c.status.good]
    return form


@bp.app_context_processor
def _forms():
    return {"renew_form": renew_form}


_NOT_ON_TOKEN = ("Ten certyfikat nie jest na aktywnym tokenie z rejestru; odnów go z żądania CSR.",
                 "This certificate is not on an active registry token; renew it from a CSR.")
# ra/renewal.py's own refusals (needle in the core's message, form field, words); the rest
# are issuance's and the token's, which enrollment_web.messages explains
_RENEWAL = (
    ("not a PKCS#10", "csr", ("Plik nie jest żądaniem CSR (PKCS#10, PEM lub DER).",
                              "The file is not a CSR (PKCS#10, PEM or DER).")),
    ("renews with the same key", "csr", (
        "Ten profil odnawia się tym samym kluczem: żądanie CSR musi zawierać klucz obecnego "
        "certyfikatu.", "This profile renews with the same key: the CSR must carry the "
        "current certificate's key.")),
    ("renews with a new key", "csr", (
        "Ten profil odnawia się nowym kluczem: wygeneruj nowy klucz i nowe żądanie CSR.",
        "This profile renews with a new key: generate a new key and a new CSR.")),
    ("only a valid certificate", "serial", (
        "Odnowić można tylko ważny certyfikat; dla innego wydaj nowy.",
        "Only a valid certificate is renewed; issue a new one instead.")),
    ("not on a registry token", "pin", _NOT_ON_TOKEN),
    ("does not hold certificate", "pin", (
        "Token nie zawiera tego certyfikatu; podłącz token, na którym jest certyfikat.",
        "The token does not hold this certificate; attach the token that does.")),
)


def _explain(exc: RegCAError) -> tuple[str | None, str]:
    for needle, field, words in _RENEWAL:
        if needle in exc.message:
            return field, t(*words)
    return explain(exc)


def _refused(enrolment_id: int, form: RenewForm, field: str | None, message: str,
             status: int):
    """The enrolment's page again, the refusal next to its field in the renewal form (which
    takes the focus), or above the form when it concerns no field."""
    if add_error(form, field, message):
        message = t("Popraw zaznaczone pola.", "Correct the marked fields.")
    mark_first_error(form)
    return enrolment_page(enrolment_id, status, renew=form, renew_error=message)


@bp.route("/enrolments/<int:enrolment_id>/renew", methods=["POST"])
@require("officer")
@once
def renew(enrolment_id: int):
    actor = current_actor()
    e = enrol.visible(store(), enrolment_id, actor.orgs)
    form = renew_form(e.id, certificates.of_enrolment(store(), actor.caller, e.id,
                                                      issued_only=True), sent=True)
    csr = form.csr.data.read() if form.csr.data else b""
    if not form.validate_on_submit():
        if form.serial.errors:  # WTForms' own words are English: say it in the page's
            form.serial.errors = [t("Wybierz ważny certyfikat z listy.",
                                    "Pick a valid certificate from the list.")]
        return _refused(e.id, form, None, t("Popraw zaznaczone pola.",
                                            "Correct the marked fields."), 400)
    if not (csr or form.pin.data):
        return _refused(e.id, form, "csr", t(
            "Dołącz plik CSR albo podaj PIN tokenu, na którym jest certyfikat.",
            "Attach a CSR file or give the PIN of the token holding the certificate."), 400)
    serial = parse_serial(form.serial.data)
    try:
        if csr:
            done = renewal.renew_from_csr(authority(), serial, csr, actor.audit_name, actor.orgs)
        else:
            label = renewal.renewable(store(), serial, actor.orgs).token_label
            if label is None:
                return _refused(e.id, form, "pin", t(*_NOT_ON_TOKEN), 400)
            web = current_app.config["WEB_SETTINGS"]
            done = renewal.renew_on_token(authority(), serial,
                                          TokenRef(web.token_module, label,
                                                   web.token_softhsm_conf),
                                          form.pin.data, actor.audit_name, actor.orgs)
    except RegCAError as exc:  # the core's words are English: said in the page's language
        field, message = _explain(exc)
        return _refused(e.id, form, field, message, form_status(exc))
    # POST-redirect-GET (enrollment_web/once.py): a reload shows this renewal, never a second
    remember(message=t("Certyfikat odnowiony.", "Certificate renewed."),
             items=[(done.new_serial, done.profile)], pem=True,
             renewal={"old_serial": done.old_serial, "same_key": done.same_key})
    return redirect(url_for("officer.issued", enrolment_id=e.id, done=current_key()), 303)
