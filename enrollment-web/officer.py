"""Registration officers' pages: record an applicant, issue from a CSR or onto a token, revoke.

Views parse, call ``ra.enrolment`` with the officer's JST scope, render; the scope check itself
is the core's. Auditors may open the same lists and details, never the forms.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding
from flask import Blueprint, abort, current_app, redirect, render_template, url_for

from ca.errors import RegCAError
from ca.revocation import REASONS
from ca.serials import parse_serial
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import form_status
from enrollment_web.forms import (
    ApplicantForm,
    CsrForm,
    EmptyForm,
    PeselSearchForm,
    RevokeForm,
    TokenForm,
)
from enrollment_web.i18n import t
from enrollment_web.printouts import sealed_pin_letter
from enrollment_web.services import authority, store
from ra import certificates
from ra import enrolment as enrol
from ra.organizations import OrganizationInactive, list_organizations
from ra.token import TokenRef

__all__ = ["bp"]

bp = Blueprint("officer", __name__)
_READERS = ("officer", "auditor")



def _profiles(kind: str) -> list[tuple[str, str]]:
    return [(p.name, f"{p.name}: {p.title}") for p in store().profiles if p.subject == kind]


def _org_names() -> dict[str, str]:
    return {o.teryt: o.name if o.active else f"{o.name} ({t('nieaktywna', 'deactivated')})"
            for o in list_organizations(store())}


@bp.route("/enrolments")
@require(*_READERS)
def enrolments():
    rows = enrol.list_visible(store(), current_actor().orgs)
    return render_template("enrolments.html", rows=rows, orgs=_org_names(),
                           search=PeselSearchForm(), searched=False)


@bp.route("/enrolments/search", methods=["POST"])
@require(*_READERS)
def search_enrolments():
    """Exact search by PESEL, through its keyed reference (ra.enrolment.find_by_pesel)."""
    form = PeselSearchForm()
    error, status, rows = None, 200, []
    if form.validate_on_submit():
        try:
            rows = enrol.find_by_pesel(store(), form.pesel.data, current_actor().orgs)
        except RegCAError as exc:
            error, status = exc.message, form_status(exc)
    else:
        error, status = t("Podaj PESEL.", "Enter a PESEL."), 400
    return render_template("enrolments.html", rows=rows, orgs=_org_names(), search=form,
                           searched=True, error=error), status


def _applicant_form() -> ApplicantForm:
    form = ApplicantForm()
    names = _org_names()
    form.organization_teryt.choices = [(t_, f"{t_} {names.get(t_, '')}")
                                       for t_ in current_actor().orgs or ()]
    return form


@bp.route("/enrolments/new", methods=["GET", "POST"])
@require("officer")
def new_enrolment():
    form = _applicant_form()
    error, status = None, 200
    if form.validate_on_submit():
        actor = current_actor()
        applicant = enrol.Applicant(**{name: (getattr(form, name).data or None) for name in (
            "kind", "organization_teryt", "given_name", "surname", "pesel", "email", "title",
            "document_type", "document_number", "revocation_password")})
        try:
            e, code = enrol.record(authority(), applicant, actor.audit_name, actor.orgs)
        except OrganizationInactive as exc:
            error, status = t("Ta jednostka jest nieaktywna i nie przyjmuje nowych wniosków.",
                              "This organisation is deactivated and takes no new "
                              "enrolments."), form_status(exc)
        except RegCAError as exc:
            error, status = exc.message, form_status(exc)
        else:
            return render_template("enrolment_recorded.html", e=e, code=code)
    elif form.is_submitted():
        error, status = t("Popraw zaznaczone pola.", "Correct the marked fields."), 400
    return render_template("enrolment_new.html", form=form, error=error), status


def _detail(enrolment_id: int, status: int = 200, **extra):
    actor = current_actor()
    e = enrol.visible(store(), enrolment_id, actor.orgs)
    certs = certificates.of_enrolment(store(), actor.caller, e.id)
    tokens = enrol.tokens_of(store(), e.id, actor.orgs)
    csr_form = extra.pop("csr_form", None) or CsrForm(formdata=None)
    csr_form.profile.choices = _profiles(e.kind)
    token_form = extra.pop("token_form", None) or TokenForm(formdata=None)
    token_form.profiles.choices = _profiles(e.kind)
    revoke_form = RevokeForm(formdata=None)
    revoke_form.reason.choices = [(r, r) for r in REASONS if r != "removeFromCRL"]
    return render_template("enrolment.html", e=e, certs=certs, tokens=tokens,
                           org=_org_names().get(e.organization_teryt, ""), csr_form=csr_form,
                           token_form=token_form, revoke_form=revoke_form,
                           code_form=EmptyForm(formdata=None),
                           pickup=enrol.pickup_code(authority(), e), **extra), status


@bp.route("/enrolments/<int:enrolment_id>")
@require(*_READERS)
def enrolment(enrolment_id: int):
    return _detail(enrolment_id)


@bp.route("/enrolments/<int:enrolment_id>/csr", methods=["POST"])
@require("officer")
def issue_csr(enrolment_id: int):
    actor = current_actor()
    e = enrol.visible(store(), enrolment_id, actor.orgs)
    form = CsrForm()
    form.profile.choices = _profiles(e.kind)
    if not form.validate_on_submit():
        return _detail(enrolment_id, 400, csr_form=form, csr_error=t(
            "Wybierz profil i plik z żądaniem CSR.", "Pick a profile and a CSR file."))
    try:
        issued = enrol.issue_from_csr(authority(), e.id, form.profile.data, form.csr.data.read(),
                                      actor.audit_name, actor.orgs)
    except RegCAError as exc:
        return _detail(enrolment_id, form_status(exc), csr_form=form, csr_error=exc.message)
    return render_template("issued.html", e=e, items=[(issued.serial, form.profile.data)],
                           pem=issued.certificate.public_bytes(Encoding.PEM).decode())


@bp.route("/enrolments/<int:enrolment_id>/token", methods=["POST"])
@require("officer")
def personalise(enrolment_id: int):
    actor = current_actor()
    e = enrol.visible(store(), enrolment_id, actor.orgs)
    form = TokenForm()
    form.profiles.choices = _profiles(e.kind)
    if not form.validate_on_submit():
        return _detail(enrolment_id, 400, token_form=form, token_error=t(
            "Wybierz co najmniej jeden profil i podaj etykietę tokenu oraz PIN.",
            "Pick at least one profile and give the token label and PIN."))
    web = current_app.config["WEB_SETTINGS"]
    ref = TokenRef(web.token_module, form.token_label.data, web.token_softhsm_conf)
    so_pin = None
    try:
        if form.initialise.data:
            so_pin = enrol.initialise_blank_token(authority(), e.id, ref, form.pin.data,
                                                  actor.audit_name, actor.orgs)
        token, done = enrol.personalise_token(authority(), e.id, tuple(form.profiles.data), ref,
                                              form.pin.data, actor.audit_name, actor.orgs)
    except RegCAError as exc:
        status = form_status(exc)
        message = exc.message
        letter = None
        if so_pin:  # initialised, then refused: the SO PIN must not be lost with the page
            message += t(" Token został zainicjowany; wydrukuj list z kodami PIN i PUK.",
                         " The token was initialised; print the PIN and PUK letter.")
            letter = sealed_pin_letter(e.id, ref.label, form.pin.data, so_pin)
        return _detail(enrolment_id, status, token_form=form, token_error=message,
                       pin_letter=letter)
    letter = sealed_pin_letter(e.id, ref.label, form.pin.data, so_pin) if so_pin else None
    return render_template("issued.html", e=e, token=token, pin_letter=letter,
                           items=[(d.issued.serial, d.profile) for d in done], pem=None)


@bp.route("/enrolments/<int:enrolment_id>/pickup-code", methods=["POST"])
@require("officer")
def pickup_code(enrolment_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    actor = current_actor()
    code = enrol.new_pickup_code(authority(), enrolment_id, actor.audit_name, actor.orgs)
    e = enrol.visible(store(), enrolment_id, actor.orgs)
    return render_template("enrolment_recorded.html", e=e, code=code,
                           pickup_days=authority().settings.pickup_validity.days)


@bp.route("/certificates/<serial>/revoke", methods=["POST"])
@require("officer")
def revoke(serial: str):
    actor = current_actor()
    form = RevokeForm()
    form.reason.choices = [(r, r) for r in REASONS if r != "removeFromCRL"]
    if not form.validate_on_submit():
        abort(400)
    try:
        serial = parse_serial(serial)
    except ValueError:
        abort(404)
    revoked = certificates.revoke(authority(), actor.caller, serial, form.reason.data)
    return redirect(url_for("officer.enrolment", enrolment_id=revoked.enrolment_id))
