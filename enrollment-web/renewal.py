"""The officer's renewal form on an enrolment's page: pick a valid certificate, then either a
CSR file or the PIN of the registry token that holds it. The old certificate is not revoked."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import PasswordField, SelectField
from wtforms.validators import Length, Optional

from ca.errors import RegCAError
from ca.serials import parse_serial
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import form_status
from enrollment_web.i18n import t
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
    pin = PasswordField("pin", validators=[Optional(), Length(max=64)])


def renew_form(enrolment_id: int, certs) -> RenewForm:
    form = RenewForm(formdata=None, prefix="renew")
    form.serial.choices = [(c.serial, f"{c.profile} {c.serial} (do {c.not_after:%Y-%m-%d})")
                           for c in certs if c.status.good]
    return form


@bp.app_context_processor
def _forms():
    return {"renew_form": renew_form}


def _page(e, error: str, status: int):
    return render_template("renew_refused.html", e=e, error=error), status


@bp.route("/enrolments/<int:enrolment_id>/renew", methods=["POST"])
@require("officer")
@once
def renew(enrolment_id: int):
    actor = current_actor()
    e = enrol.visible(store(), enrolment_id, actor.orgs)
    form = RenewForm(prefix="renew")
    form.serial.choices = [(c.serial, c.serial) for c in certificates.of_enrolment(
        store(), actor.caller, e.id, issued_only=True) if c.status.good]
    csr = form.csr.data.read() if form.csr.data else b""
    if not form.validate_on_submit() or not (csr or form.pin.data):
        return _page(e, t("Wybierz ważny certyfikat i dołącz plik CSR albo podaj PIN tokenu, "
                          "na którym jest certyfikat.",
                          "Pick a valid certificate and attach a CSR file or give the PIN of "
                          "the token that holds the certificate."), 400)
    serial = parse_serial(form.serial.data)
    try:
        if csr:
            done = renewal.renew_from_csr(authority(), serial, csr, actor.audit_name, actor.orgs)
        else:
            label = renewal.renewable(store(), serial, actor.orgs).token_label
            if label is None:
                return _page(e, t("Ten certyfikat nie jest na aktywnym tokenie z rejestru; "
                                  "odnów go z żądania CSR.",
                                  "This certificate is not on an active registered token; "
                                  "renew it from a CSR."), 400)
            web = current_app.config["WEB_SETTINGS"]
            done = renewal.renew_on_token(authority(), serial,
                                          TokenRef(web.token_module, label,
                                                   web.token_softhsm_conf),
                                          form.pin.data, actor.audit_name, actor.orgs)
    except RegCAError as exc:
        return _page(e, exc.message, form_status(exc))
    # POST-redirect-GET (enrollment_web/once.py): a reload shows this renewal, never a second
    remember(message=t("Certyfikat odnowiony.", "Certificate renewed."),
             items=[(done.new_serial, done.profile)], pem=True,
             renewal={"old_serial": done.old_serial, "same_key": done.same_key})
    return redirect(url_for("officer.issued", enrolment_id=e.id, done=current_key()), 303)
