"""The administrator's page: the JST this home serves, the staff log-ins and the profiles in use.
Adding a JST goes through ``ca.organizations`` (codes validated, audited)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for
from sqlalchemy import select

from ca.errors import RegCAError
from ca.organizations import add_organization, list_organizations
from ca.store.models import User, UserOrganization
from enrollment_web.auth import current_actor, require
from enrollment_web.forms import OrganizationForm

__all__ = ["bp"]

bp = Blueprint("admin", __name__)


def _ctx():
    return current_app.config["REGCA_CTX"]


def _page(form: OrganizationForm, error: str | None = None, status: int = 200):
    ctx = _ctx()
    with ctx.db.reading() as s:
        users = list(s.execute(select(User.username, User.role).order_by(User.username)))
        scopes = {}
        for username, teryt in s.execute(select(UserOrganization.username,
                                                UserOrganization.teryt)):
            scopes.setdefault(username, []).append(teryt)
    profiles = [p for p in ctx.profiles if p.subject in ("resident", "staff")]
    return render_template("admin.html", form=form, error=error, users=users, scopes=scopes,
                           orgs=list_organizations(ctx), profiles=profiles), status


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
        add_organization(_ctx(), form.teryt.data, form.name.data, form.nip.data or None,
                         form.regon.data or None, actor=current_actor().audit_name)
    except RegCAError as exc:
        return _page(form, exc.message, 400)
    return redirect(url_for("admin.index"))
