"""The administrator's organisations: subordinate units without a TERYT code (added by REGON
under their JST), editing a name or code, deactivating and activating again. Each change goes
through ``ra.organizations`` (validated, audited)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ca.errors import RegCAError
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import form_status
from enrollment_web.i18n import t
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
    return render_template("organizations.html", form=form, orgs=orgs, error=error,
                           active_form=ActiveForm(formdata=None)), status


@bp.route("/admin/units", methods=["GET", "POST"])
@require("administrator")
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
    return redirect(url_for("organizations_admin.units"))


@bp.route("/admin/organizations/<key>/edit", methods=["GET", "POST"])
@require("administrator")
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
                return redirect(url_for("organizations_admin.units"))
    return render_template("organization_edit.html", org=org, form=form, error=error), status


@bp.route("/admin/organizations/<key>/active", methods=["POST"])
@require("administrator")
def toggle(key: str):
    form = ActiveForm()
    if not form.validate_on_submit():
        return redirect(url_for("organizations_admin.units"))
    org = get_organization(store(), key)
    set_active(authority(), key, not org.active, current_actor().audit_name)
    return redirect(url_for("organizations_admin.units"))
