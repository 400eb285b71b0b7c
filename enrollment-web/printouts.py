"""The officer's print buttons: each answers a PDF from ``enrollment_web.printables``.

The application form and the handover protocol are built from the enrolment as it is stored.
The PIN/PUK letter and the pickup-code slip print secrets that are never stored: the page that
made them carries them sealed (``enrollment_web.sealed``), and only this view opens them.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request, url_for
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

from ca.config import load_settings
from enrollment_web import printables
from enrollment_web.auth import current_actor, require
from enrollment_web.sealed import seal, unseal
from enrollment_web.services import store
from ra import certificates
from ra import enrolment as enrol
from ra.organizations import organization_name

__all__ = ["bp", "SealedForm", "sealed_pin_letter", "sealed_pickup_slip"]

bp = Blueprint("printouts", __name__)
_PIN_LETTER, _PICKUP_SLIP = "pin-letter", "pickup-slip"


class SealedForm(FlaskForm):
    sealed = HiddenField("sealed", validators=[DataRequired(), Length(max=2000)])


def _operator() -> str:
    settings = current_app.config["WEB_SETTINGS"]
    return load_settings(settings.home).operator.get("name", "RegCA")


def _org_name(teryt: str) -> str:
    return organization_name(store(), teryt)


def _person(e) -> printables.Person:
    return printables.Person(e.given_name, e.surname, e.kind, e.pesel, e.email, e.title,
                             e.document_type, e.document_number)


def _pdf(body: bytes, filename: str) -> Response:
    return Response(body, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store"})


def sealed_pin_letter(enrolment_id: int, token_label: str, pin: str | None, puk: str
                      ) -> SealedForm:
    """The form whose button prints the PIN/PUK letter of a token just initialised."""
    value = seal(_PIN_LETTER, current_actor().audit_name, store().now(),
                 {"enrolment": enrolment_id, "label": token_label, "pin": pin, "puk": puk})
    return SealedForm(formdata=None, sealed=value)


def sealed_pickup_slip(enrolment_id: int, code: str) -> SealedForm:
    value = seal(_PICKUP_SLIP, current_actor().audit_name, store().now(),
                 {"enrolment": enrolment_id, "code": code})
    return SealedForm(formdata=None, sealed=value)


@bp.app_context_processor
def _forms():
    return {"pickup_slip_form": sealed_pickup_slip}


@bp.route("/enrolments/<int:enrolment_id>/wniosek.pdf")
@require("officer")
def application_form(enrolment_id: int):
    e = enrol.visible(store(), enrolment_id, current_actor().orgs)
    profiles = (e.requested_profiles or "").split() or [
        p.name for p in store().profiles if p.subject == e.kind]
    body = printables.application_form(e.id, _person(e), _org_name(e.organization_teryt),
                                        profiles, store().now(), _operator())
    return _pdf(body, f"wniosek-{e.id}.pdf")


@bp.route("/enrolments/<int:enrolment_id>/protokol.pdf")
@require("officer")
def handover_protocol(enrolment_id: int):
    actor = current_actor()
    e = enrol.visible(store(), enrolment_id, actor.orgs)
    certs = [printables.CertificateLine(c.profile, c.serial, c.not_after)
             for c in certificates.of_enrolment(store(), actor.caller, e.id, issued_only=True)
             if c.status.good]
    tokens = [(t.label, t.serial_number or "") for t in enrol.tokens_of(store(), e.id, actor.orgs)
              if t.state == "active"]
    body = printables.handover_protocol(e.id, _person(e), _org_name(e.organization_teryt),
                                        actor.name, certs, tokens, store().now(), _operator())
    return _pdf(body, f"protokol-wydania-{e.id}.pdf")


def _opened(purpose: str) -> tuple[dict, object]:
    form = SealedForm()
    if not form.validate_on_submit():
        abort(400)
    values = unseal(purpose, current_actor().audit_name, store().now(), form.sealed.data)
    if values is None:
        abort(410)  # older than the session's lifetime, or not this officer's
    return values, enrol.visible(store(), values["enrolment"], current_actor().orgs)


@bp.route("/printouts/pin-letter", methods=["POST"])
@require("officer")
def pin_letter():
    values, e = _opened(_PIN_LETTER)
    body = printables.pin_letter(_person(e), _org_name(e.organization_teryt), values["label"],
                                 values.get("pin"), values["puk"], store().now(), _operator())
    return _pdf(body, f"pin-puk-{e.id}.pdf")


@bp.route("/printouts/pickup-slip", methods=["POST"])
@require("officer")
def pickup_slip():
    values, e = _opened(_PICKUP_SLIP)
    url = request.url_root.rstrip("/") + url_for("resident.pickup")
    body = printables.pickup_slip(_person(e), _org_name(e.organization_teryt), values["code"],
                                  url, store().now(), _operator())
    return _pdf(body, f"kod-odbioru-{e.id}.pdf")
