"""The administrator's page: the JST this home serves, the staff log-ins and the profiles in use.
Adding a JST goes through ``ra.organizations`` (codes validated, audited)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for

from ca.errors import RegCAError
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import form_status
from enrollment_web.forms import OrganizationForm, UserForm
from enrollment_web.services import authority, store
from ra.organizations import add_organization, list_organizations
from ra.users import create_user, list_staff

__all__ = ["bp"]

bp = Blueprint("admin", __name__)



def _user_form(bound: bool = True) -> UserForm:
    form = UserForm() if bound else UserForm(formdata=None)
    form.organizations.choices = [(o.teryt, f"{o.teryt} {o.name}")
                                  for o in list_organizations(store())]
    return form


def _page(form: OrganizationForm, error: str | None = None, status: int = 200,
          user_form: UserForm | None = None, user_error: str | None = None):
    profiles = [p for p in store().profiles if p.subject in ("resident", "staff")]
    return render_template("admin.html", form=form, error=error, users=list_staff(store()),
                           orgs=list_organizations(store()), profiles=profiles,
                           user_form=user_form or _user_form(bound=False),
                           user_error=user_error), status


@bp.route("/admin")
@require("administrator")
def index():
    return _page(OrganizationForm(formdata=None))


@bp.route("/admin/organizations", methods=["POST"])
@require("administrator")
def add_org():
    form = OrganizationForm()
    if not form.validate_on_submit():
        return _page(form, "teryt, name", 400)
    try:
        add_organization(authority(), form.teryt.data, form.name.data, form.nip.data or None,
                         form.regon.data or None, actor=current_actor().audit_name)
    except RegCAError as exc:
        return _page(form, exc.message, form_status(exc))
    return redirect(url_for("admin.index"))


@bp.route("/admin/users", methods=["POST"])
@require("administrator")
def add_user():
    form = _user_form()
    if not form.validate_on_submit():
        return _page(OrganizationForm(formdata=None), status=400, user_form=form,
                     user_error="username, role, password")
    orgs = form.organizations.data if form.role.data == "officer" else []
    if form.role.data == "officer" and not orgs:
        return _page(OrganizationForm(formdata=None), status=400, user_form=form,
                     user_error="organizations: an officer acts for at least one JST")
    try:
        create_user(authority(), form.username.data.strip(), form.password.data, form.role.data,
                    orgs, actor=current_actor().audit_name)
    except RegCAError as exc:
        return _page(OrganizationForm(formdata=None), status=form_status(exc), user_form=form,
                     user_error=exc.message)
    return redirect(url_for("admin.index"))
