"""The administrator's organisations: subordinate units without a TERYT code (added by REGON
under their JST), editing a name or code, deactivating and activating again. Each change goes
through ``ra.organizations`` (validated, audited), POST-redirect-GET with an idempotency key
(``once``): a double click on "Dezaktywuj" deactivates once, it does not toggle back."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ca.errors import RegCAError
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import form_status
from enrollment_web.i18n import t
from enrollment_web.once import current_key, once, remember, result
from enrollment_web.services import authority, store
from ra.organizations import (
    add_unit,
    get_organization,
    list_organizations,
    set_active,
    update_organization,
)

__all__ = ["bp"]

bp = Blueprint("organizations_admin", __name__)


class UnitForm(FlaskForm):
    regon = StringField("regon", validators=[DataRequired(), Length(max=14)])
    name = StringField("name", validators=[DataRequired(), Length(max=200)])
    nip = StringField("nip", validators=[Optional(), Length(max=13)])
    parent_teryt = SelectField("parent_teryt", choices=[])


class EditForm(FlaskForm):
    name = StringField("name", validators=[DataRequired(), Length(max=200)])
    nip = StringField("nip", validators=[Optional(), Length(max=13)])
    regon = StringField("regon", validators=[Optional(), Length(max=14)])


class ActiveForm(FlaskForm):
    """Deactivate or activate: the button and its CSRF token."""


def _page(form: UnitForm, error: str | None = None, status: int = 200):
    orgs = list_organizations(store())
    form.parent_teryt.choices = [(o.teryt, f"{o.teryt} {o.name}") for o in orgs
                                 if o.parent_teryt is None]
    done = result(request.args.get("done")) or {}
    return render_template("organizations.html", form=form, orgs=orgs, error=error,
                           active_form=ActiveForm(formdata=None),
                           success=done.get("message")), status


def _to_units(message: str):
    remember(message=message)
    return redirect(url_for("organizations_admin.units", done=current_key()), 303)


@bp.route("/admin/units", methods=["GET", "POST"])
@require("administrator")
@once
def units():
    form = UnitForm()
    if not form.is_submitted():
        return _page(form)
    _page(form)  # the parent's choices, before the form is judged
    if not form.validate_on_submit():
        return _page(form, t("Popraw zaznaczone pola.", "Correct the marked fields."), 400)
    try:
        add_unit(authority(), form.regon.data, form.name.data, form.parent_teryt.data,
                 form.nip.data or None, actor=current_actor().audit_name)
    except RegCAError as exc:
        return _page(form, exc.message, form_status(exc))
    return _to_units(t(f"Dodano jednostkę {form.name.data} (REGON {form.regon.data}).",
                       f"The unit {form.name.data} (REGON {form.regon.data}) was added."))


@bp.route("/admin/organizations/<key>/edit", methods=["GET", "POST"])
@require("administrator")
@once
def edit(key: str):
    org = get_organization(store(), key)
    form = EditForm(obj=org)  # a POST's fields take precedence over the stored values
    error, status = None, 200
    if form.is_submitted():
        if not form.validate_on_submit():
            error, status = t("Popraw zaznaczone pola.", "Correct the marked fields."), 400
        else:
            try:
                update_organization(authority(), key, form.name.data, form.nip.data or None,
                                    form.regon.data or None, current_actor().audit_name)
            except RegCAError as exc:
                error, status = exc.message, form_status(exc)
            else:
                return _to_units(t(f"Zapisano zmiany organizacji {key}.",
                                   f"The changes to organisation {key} were saved."))
    return render_template("organization_edit.html", org=org, form=form, error=error), status


@bp.route("/admin/organizations/<key>/active", methods=["POST"])
@require("administrator")
@once
def toggle(key: str):
    if not ActiveForm().validate_on_submit():
        abort(400)
    org = get_organization(store(), key)
    set_active(authority(), key, not org.active, current_actor().audit_name)
    if org.active:
        return _to_units(t(f"Organizacja {key} jest nieaktywna: nie przyjmuje nowych wniosków.",
                           f"Organisation {key} is deactivated: it takes no new enrolments."))
    return _to_units(t(f"Organizacja {key} jest znowu aktywna.",
                       f"Organisation {key} is active again."))
