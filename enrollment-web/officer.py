"""Registration officers' pages: record an applicant, issue from a CSR or onto a token, revoke.

Views parse, call ``ra.enrolment`` with the officer's JST scope, render; the scope check itself
is the core's. Auditors may open the same lists and details, never the forms. Every form is
POST-redirect-GET through ``once`` (a reload or a second click does nothing again), and a
revocation is asked for on a page of its own that says what will happen.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from ca.errors import InvalidSubject, RegCAError
from ca.serials import parse_serial
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import form_status
from enrollment_web.forms import (
    ApplicantForm,
    CsrForm,
    EmptyForm,
    RevokeForm,
    TokenForm,
    add_error,
    mark_first_error,
)
from enrollment_web.i18n import ngettext, t
from enrollment_web.messages import explain
from enrollment_web.names import OFFICER_REASONS, profile_name, reason_name
from enrollment_web.once import current_key, once, remember, result, seal, unseal
from enrollment_web.printouts import SealedForm, sealed_pin_letter
from enrollment_web.services import authority, store
from ra import certificates
from ra import enrolment as enrol
from ra.organizations import OrganizationInactive, list_organizations
from ra.paging import Page, page_number
from ra.token import TokenRef

__all__ = ["bp", "enrolment_page"]

bp = Blueprint("officer", __name__)
_READERS = ("officer", "auditor")


def _profiles(kind: str) -> list[tuple[str, str]]:
    return [(p.name, profile_name(p)) for p in store().profiles if p.subject == kind]


def _org_names() -> dict[str, str]:
    return {o.teryt: o.name if o.active else f"{o.name} ({t('nieaktywna', 'deactivated')})"
            for o in list_organizations(store())}


def _serial(text: str) -> str:
    try:
        return parse_serial(text)
    except ValueError:
        abort(404)


def _refused(form, exc: RegCAError) -> tuple[str | None, int]:
    """Put the core's refusal next to its field; what fits no field goes above the form."""
    status = form_status(exc)
    field, message = explain(exc)
    return (None if add_error(form, field, message) else message), status


@bp.route("/enrolments")
@require(*_READERS)
def enrolments():
    text = request.args.get("q", "").strip()[:100]
    error, status = None, 200
    try:
        page = enrol.search(store(), current_actor().orgs, text,
                            page_number(request.args.get("page")))
    except InvalidSubject:
        error, status = t("Numer PESEL jest nieprawidłowy: sprawdź, czy ma 11 cyfr i poprawną "
                          "cyfrę kontrolną.",
                          "This PESEL is not valid: check its 11 digits and check digit."), 400
        page = Page([], 0, 1)
    except RegCAError as exc:  # e.g. a home without the HMAC key cannot search by PESEL
        error, status, page = explain(exc)[1], form_status(exc), Page([], 0, 1)
    return render_template("enrolments.html", page=page, q=text, search_error=error,
                           orgs=_org_names()), status


@bp.route("/certificates")
@require(*_READERS)
def certificate_list():
    """Every certificate in the caller's view, a page at a time, with the total."""
    page = certificates.listed(store(), current_actor().caller,
                               page_number(request.args.get("page")))
    return render_template("certificates.html", page=page)


def _applicant_form() -> ApplicantForm:
    form = ApplicantForm()
    names = _org_names()
    form.organization_teryt.choices = [(t_, f"{t_} {names.get(t_, '')}")
                                       for t_ in current_actor().orgs or ()]
    form.kind.choices = [("resident", t("mieszkaniec", "resident")),
                         ("staff", t("pracownik JST", "JST staff member"))]
    form.document_type.choices = [("", t("brak", "none")),
                                  ("IDC", t("dowód osobisty", "identity card")),
                                  ("PAS", t("paszport", "passport"))]
    return form


@bp.route("/enrolments/new", methods=["GET", "POST"])
@require("officer")
@once
def new_enrolment():
    form = _applicant_form()
    error, status, duplicates = None, 200, []
    if form.validate_on_submit():
        actor = current_actor()
        duplicates = [] if form.confirm_duplicate.data else enrol.same_person(
            store(), actor.orgs, form.pesel.data)
        if not duplicates:
            applicant = enrol.Applicant(**{name: (getattr(form, name).data or None) for name in (
                "kind", "organization_teryt", "given_name", "surname", "pesel", "email",
                "title", "document_type", "document_number", "revocation_password")})
            try:
                e, code = enrol.record(authority(), applicant, actor.audit_name, actor.orgs)
            except OrganizationInactive as exc:
                error, status = t("Ta jednostka jest nieaktywna i nie przyjmuje nowych wniosków.",
                                  "This organisation is deactivated and takes no new "
                                  "enrolments."), form_status(exc)
            except RegCAError as exc:
                error, status = _refused(form, exc)
            else:
                remember(message=t("Wniosek zapisany.", "Enrolment recorded."), code=seal(code))
                return redirect(url_for("officer.recorded", enrolment_id=e.id,
                                        done=current_key()), 303)
    elif form.is_submitted():
        status = 400
    if form.errors or any(f.errors for f in form):
        error = error or t("Popraw zaznaczone pola.", "Correct the marked fields.")
        mark_first_error(form)
    return render_template("enrolment_new.html", form=form, error=error,
                           duplicates=duplicates), status


@bp.route("/enrolments/<int:enrolment_id>/recorded")
@require("officer")
def recorded(enrolment_id: int):
    """The result of recording (or of a new pickup code): the code, while it may be shown."""
    e = enrol.visible(store(), enrolment_id, current_actor().orgs)
    done = result(request.args.get("done")) or {}
    return render_template("enrolment_recorded.html", e=e, code=unseal(done.get("code")),
                           success=done.get("message"),
                           pickup_days=authority().settings.pickup_validity.days)


def enrolment_page(enrolment_id: int, status: int = 200, **extra):
    """An enrolment's page; a form sent back with its errors goes in ``extra`` (``csr_form``,
    ``token_form``, ``renew``) with the message above it (``csr_error``...)."""
    actor = current_actor()
    e = enrol.visible(store(), enrolment_id, actor.orgs)
    certs = certificates.of_enrolment(store(), actor.caller, e.id)
    tokens = enrol.tokens_of(store(), e.id, actor.orgs)
    csr_form = extra.pop("csr_form", None) or CsrForm(formdata=None)
    csr_form.profile.choices = _profiles(e.kind)
    token_form = extra.pop("token_form", None) or TokenForm(formdata=None)
    token_form.profiles.choices = _profiles(e.kind)
    done = result(request.args.get("done")) or {}
    extra.setdefault("success", done.get("message"))
    return render_template("enrolment.html", e=e, certs=certs, tokens=tokens,
                           org=_org_names().get(e.organization_teryt, ""), csr_form=csr_form,
                           token_form=token_form, code_form=EmptyForm(formdata=None),
                           pickup=enrol.pickup_code(authority(), e), **extra), status


@bp.route("/enrolments/<int:enrolment_id>")
@require(*_READERS)
def enrolment(enrolment_id: int):
    return enrolment_page(enrolment_id)


def _issued(e, items: list[tuple[str, str]], **more):
    remember(message=ngettext("%(num)d certificate issued.", "%(num)d certificates issued.",
                              len(items)), items=items, **more)
    return redirect(url_for("officer.issued", enrolment_id=e.id, done=current_key()), 303)


@bp.route("/enrolments/<int:enrolment_id>/csr", methods=["POST"])
@require("officer")
@once
def issue_csr(enrolment_id: int):
    actor = current_actor()
    e = enrol.visible(store(), enrolment_id, actor.orgs)
    form = CsrForm()
    form.profile.choices = _profiles(e.kind)
    if not form.validate_on_submit():
        mark_first_error(form)
        return enrolment_page(enrolment_id, 400, csr_form=form, csr_error=t(
            "Popraw zaznaczone pola.", "Correct the marked fields."))
    try:
        issued = enrol.issue_from_csr(authority(), e.id, form.profile.data, form.csr.data.read(),
                                      actor.audit_name, actor.orgs)
    except RegCAError as exc:
        message, status = _refused(form, exc)
        mark_first_error(form)
        return enrolment_page(enrolment_id, status, csr_form=form, csr_error=message or t(
            "Popraw zaznaczone pola.", "Correct the marked fields."))
    return _issued(e, [(issued.serial, form.profile.data)], pem=True)


@bp.route("/enrolments/<int:enrolment_id>/token", methods=["POST"])
@require("officer")
@once
def personalise(enrolment_id: int):
    actor = current_actor()
    e = enrol.visible(store(), enrolment_id, actor.orgs)
    form = TokenForm()
    form.profiles.choices = _profiles(e.kind)
    if not form.validate_on_submit():
        mark_first_error(form)
        return enrolment_page(enrolment_id, 400, token_form=form, token_error=t(
            "Popraw zaznaczone pola.", "Correct the marked fields."))
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
        message, status = _refused(form, exc)
        mark_first_error(form)
        message = message or t("Popraw zaznaczone pola.", "Correct the marked fields.")
        letter = None
        if so_pin:  # initialised, then refused: the SO PIN must not be lost with the page
            message += t(" Token został zainicjowany; wydrukuj list z kodami PIN i PUK.",
                         " The token was initialised; print the PIN and PUK letter.")
            letter = sealed_pin_letter(e.id, ref.label, form.pin.data, so_pin)
        return enrolment_page(enrolment_id, status, token_form=form, token_error=message,
                       pin_letter=letter)
    # the PUK is never shown: only the letter's sealed form, printable for its own 30 minutes
    letter = sealed_pin_letter(e.id, ref.label, form.pin.data, so_pin) if so_pin else None
    return _issued(e, [(d.issued.serial, d.profile) for d in done], token=token.label,
                   token_id=token.id, pin_letter=letter.sealed.data if letter else None)


@bp.route("/enrolments/<int:enrolment_id>/issued")
@require("officer")
def issued(enrolment_id: int):
    """What a CSR or a token personalisation issued: shown again on reload, issued once."""
    actor = current_actor()
    e = enrol.visible(store(), enrolment_id, actor.orgs)
    done = result(request.args.get("done")) or {}
    items = [(serial, profile_name(profile)) for serial, profile in done.get("items", [])]
    pem = None
    if done.get("pem") and items:
        pem = certificates.show(store(), actor.caller, items[0][0]).pem()
    letter = done.get("pin_letter")
    return render_template("issued.html", e=e, items=items, token=done.get("token"),
                           token_id=done.get("token_id"), pem=pem, success=done.get("message"),
                           renewal=done.get("renewal"),
                           pin_letter=SealedForm(formdata=None, sealed=letter) if letter else None)


@bp.route("/enrolments/<int:enrolment_id>/pickup-code", methods=["POST"])
@require("officer")
@once
def pickup_code(enrolment_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    actor = current_actor()
    code = enrol.new_pickup_code(authority(), enrolment_id, actor.audit_name, actor.orgs)
    remember(message=t("Wydano nowy kod odbioru; poprzedni przestał działać.",
                       "A new pickup code was given; the previous one no longer works."),
             code=seal(code))
    return redirect(url_for("officer.recorded", enrolment_id=enrolment_id, done=current_key()),
                    303)


def _revoke_form() -> RevokeForm:
    form = RevokeForm()
    form.reason.choices = [("", t("— wybierz powód —", "— pick a reason —"))] + [
        (r, reason_name(r)) for r in OFFICER_REASONS]
    return form


@bp.route("/certificates/<serial>/revoke", methods=["GET", "POST"])
@require("officer")
@once
def revoke(serial: str):
    """Asked on a page of its own: which certificate, whose, and that it cannot be undone."""
    actor = current_actor()
    cert = certificates.show(store(), actor.caller, _serial(serial))
    e = enrol.visible(store(), cert.enrolment_id, actor.orgs) if cert.enrolment_id else None
    form, error, status = _revoke_form(), None, 200
    if form.validate_on_submit() and form.reason.data in OFFICER_REASONS:
        try:
            certificates.revoke(authority(), actor.caller, cert.serial, form.reason.data)
        except RegCAError as exc:
            error, status = _refused(form, exc)
        else:
            remember(message=t(f"Certyfikat {cert.serial} został unieważniony "
                               f"(powód: {reason_name(form.reason.data)}).",
                               f"Certificate {cert.serial} was revoked "
                               f"(reason: {reason_name(form.reason.data)})."))
            target = (url_for("officer.enrolment", enrolment_id=e.id, done=current_key())
                      if e else url_for("officer.enrolments"))
            return redirect(target, 303)
    elif form.is_submitted():
        if not form.reason.errors:
            add_error(form, "reason", t("Wybierz powód unieważnienia.",
                                        "Pick the reason for revocation."))
        status = 400
    mark_first_error(form)
    return render_template("revoke_confirm.html", cert=cert, e=e, form=form, error=error,
                           profile=profile_name(cert.profile)), status
