"""The administrator's pages: the JST this home serves, the staff log-ins and what can be done
to them (disable, enable, reset the password or the TOTP, change the role and JST), the API
keys and the profiles in use. Each change goes through ``ra`` (checked, audited there: a
change that takes a right away ends the user's sessions in the same transaction); the pages
name what was wrong in the visitor's language and change nothing then.

What cannot be undone (revoking an API key, resetting a password or a TOTP, disabling a
log-in, which ends its sessions) is asked on a page of its own first (issue 18): a GET of the
action's address names whose log-in or which key and what will happen, and changes nothing;
its form's POST to the same address acts.

Every form is POST-redirect-GET with an idempotency key (``once``): a double click or a reload
disables, resets or creates once and shows the first result again, the temporary password and
the new API key included (sealed, for ``once.SECRET_SECONDS``)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from ca.errors import Conflict, NotFound, RegCAError
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import form_status
from enrollment_web.forms import ApiKeyForm, EmptyForm, OrganizationForm, RoleForm, UserForm
from enrollment_web.i18n import t
from enrollment_web.once import current_key, once, remember, result, seal, unseal
from enrollment_web.services import authority, store
from ra import users
from ra.apikeys import SCOPES, ApiKeyView, create_api_key, list_api_keys, revoke_api_key
from ra.organizations import add_organization, list_organizations
from ra.users import create_user, list_staff

__all__ = ["bp"]

bp = Blueprint("admin", __name__)


def _org_choices() -> list[tuple[str, str]]:
    return [(o.teryt, f"{o.teryt} {o.name}") for o in list_organizations(store())]


def _user_form(bound: bool = True) -> UserForm:
    form = UserForm() if bound else UserForm(formdata=None)
    form.organizations.choices = _org_choices()
    return form


def _done() -> dict:
    """What this visitor's submission ``?done=`` left for its result page (``once``)."""
    return result(request.args.get("done")) or {}


def _page(form: OrganizationForm, error: str | None = None, status: int = 200,
          user_form: UserForm | None = None, user_error: str | None = None):
    profiles = [p for p in store().profiles if p.subject in ("resident", "staff")]
    return render_template("admin.html", form=form, error=error, users=list_staff(store()),
                           orgs=list_organizations(store()), profiles=profiles,
                           user_form=user_form or _user_form(bound=False),
                           user_error=user_error, success=_done().get("message")), status


@bp.route("/admin")
@require("administrator")
def index():
    return _page(OrganizationForm(formdata=None))


def _to_admin(message: str):
    remember(message=message)
    return redirect(url_for("admin.index", done=current_key()), 303)


@bp.route("/admin/organizations", methods=["POST"])
@require("administrator")
@once
def add_org():
    form = OrganizationForm()
    if not form.validate_on_submit():
        return _page(form, t("Podaj kod TERYT (7 cyfr) i nazwę JST.",
                             "Give the TERYT code (7 digits) and the JST's name."), 400)
    try:
        add_organization(authority(), form.teryt.data, form.name.data, form.nip.data or None,
                         form.regon.data or None, actor=current_actor().audit_name)
    except RegCAError as exc:
        return _page(form, exc.message, form_status(exc))
    return _to_admin(t(f"Dodano JST {form.teryt.data}.", f"JST {form.teryt.data} was added."))


@bp.route("/admin/users", methods=["POST"])
@require("administrator")
@once
def add_user():
    form = _user_form()
    if not form.validate_on_submit():
        return _page(OrganizationForm(formdata=None), status=400, user_form=form,
                     user_error=t("Podaj login, rolę i hasło początkowe.",
                                  "Give the user name, role and initial password."))
    orgs = form.organizations.data if form.role.data == "officer" else []
    if form.role.data == "officer" and not orgs:
        return _page(OrganizationForm(formdata=None), status=400, user_form=form,
                     user_error=t("Urzędnik rejestrujący (officer) musi działać dla co "
                                  "najmniej jednej JST.",
                                  "A registration officer acts for at least one JST."))
    username = form.username.data.strip()
    try:
        create_user(authority(), username, form.password.data, form.role.data, orgs,
                    actor=current_actor().audit_name)
    except RegCAError as exc:
        return _page(OrganizationForm(formdata=None), status=form_status(exc), user_form=form,
                     user_error=exc.message)
    return _to_admin(t(f"Dodano pracownika {username}.",
                       f"Staff member {username} was added."))


# -- one staff member ---------------------------------------------------------------------------

def _member(username: str) -> users.StaffMember:
    """The staff member the address names; an unknown one is the error page's (404)."""
    member = users.staff_member(store(), username)
    if member is None:
        raise NotFound(t(f"Nie ma pracownika o loginie „{username}”.",
                         f"There is no staff member with the user name '{username}'."))
    return member


def _role_form(member: users.StaffMember | None = None) -> RoleForm:
    form = RoleForm() if member is None else RoleForm(
        formdata=None, role=member.role, organizations=list(member.organizations))
    form.organizations.choices = _org_choices()
    return form


def _user_page(username: str, status: int = 200, error: str | None = None,
               role_form: RoleForm | None = None):
    member = _member(username)
    done = _done()
    return render_template("admin_user.html", member=member, error=error,
                           role_form=role_form or _role_form(member),
                           temporary=unseal(done.get("temporary")),
                           success=done.get("message"), button=EmptyForm(formdata=None),
                           yourself=current_actor().name == username), status


_CANNOT_DISABLE = (
    "Nie można wyłączyć tego konta: jest już wyłączone albo jest Twoje (własne konto wyłączy "
    "inny administrator).",
    "This log-in cannot be disabled: it is disabled already or it is your own (another "
    "administrator can disable yours).")


def _confirm(member: users.StaffMember, action: str):
    """The page that asks before ``action`` (disable, reset-password, reset-totp): whose
    log-in and what will happen; its button POSTs to the action's address."""
    return render_template("admin_user_confirm.html", member=member, action=action,
                           button=EmptyForm(formdata=None))


def _refused(username: str, exc: RegCAError, conflict: tuple[str, str]):
    """A refusal of the core on the user's page: the message of this action's conflict (the
    user's state does not allow it), else the core's own words."""
    if isinstance(exc, Conflict):
        return _user_page(username, 409, t(*conflict))
    return _user_page(username, form_status(exc), exc.message)


def _to_user(username: str, message: str, **secrets):
    """The user's page with this submission's result: a reload shows it again, acts on
    nothing."""
    remember(message=message, **{name: seal(value) for name, value in secrets.items()})
    return redirect(url_for("admin.user", username=username, done=current_key()), 303)


@bp.route("/admin/users/<username>")
@require("administrator")
def user(username: str):
    return _user_page(username)


@bp.route("/admin/users/<username>/disable", methods=["GET", "POST"])
@require("administrator")
@once
def disable(username: str):
    member = _member(username)
    if request.method == "GET":
        if member.disabled or current_actor().name == username:
            return _user_page(username, 409, t(*_CANNOT_DISABLE))
        return _confirm(member, "disable")
    try:
        users.disable_user(authority(), username, current_actor().audit_name)
    except RegCAError as exc:
        return _refused(username, exc, _CANNOT_DISABLE)
    return _to_user(username, t("Konto wyłączone; otwarte sesje pracownika zakończono.",
                                "The log-in was disabled; the user's open sessions ended."))


@bp.route("/admin/users/<username>/enable", methods=["POST"])
@require("administrator")
@once
def enable(username: str):
    _member(username)
    try:
        users.enable_user(authority(), username, current_actor().audit_name)
    except RegCAError as exc:
        return _refused(username, exc, ("To konto nie jest wyłączone.",
                                        "This log-in is not disabled."))
    return _to_user(username, t("Konto włączone.", "The log-in was enabled."))


@bp.route("/admin/users/<username>/reset-password", methods=["GET", "POST"])
@require("administrator")
@once
def reset_password(username: str):
    """The temporary password is on the result page only (sealed, for a short while); the
    user replaces it at once."""
    member = _member(username)
    if request.method == "GET":
        return _confirm(member, "reset-password")
    temporary = users.reset_password(authority(), username, current_actor().audit_name)
    return _to_user(username, t("Nadano hasło tymczasowe; otwarte sesje pracownika "
                                "zakończono.", "A temporary password was set; the user's "
                                "open sessions ended."), temporary=temporary)


@bp.route("/admin/users/<username>/reset-totp", methods=["GET", "POST"])
@require("administrator")
@once
def reset_totp(username: str):
    member = _member(username)
    if request.method == "GET":
        return _confirm(member, "reset-totp")
    users.reset_totp(authority(), username, current_actor().audit_name)
    return _to_user(username, t("TOTP zresetowany: pracownik skonfiguruje go przy następnym "
                                "logowaniu.", "The TOTP was reset: the user sets it up at the "
                                "next log-in."))


@bp.route("/admin/users/<username>/role", methods=["POST"])
@require("administrator")
@once
def change_role(username: str):
    _member(username)
    form = _role_form()
    if not form.validate_on_submit():
        return _user_page(username, 400, t(
            "Wybierz rolę (administrator, officer albo auditor) i JST z listy.",
            "Pick a role (administrator, officer or auditor) and JST from the list."), form)
    if form.role.data == "officer" and not form.organizations.data:
        return _user_page(username, 400, t(
            "Urzędnik rejestrujący (officer) musi działać dla co najmniej jednej JST.",
            "A registration officer acts for at least one JST."), form)
    try:
        users.change_role(authority(), username, form.role.data, form.organizations.data,
                          current_actor().audit_name)
    except RegCAError as exc:
        return _refused(username, exc, ("Nie możesz zmienić własnej roli; zrobi to inny "
                                        "administrator.",
                                        "You cannot change your own role; another "
                                        "administrator can."))
    return _to_user(username, t("Rola i JST zmienione; otwarte sesje pracownika zakończono.",
                                "Role and JST changed; the user's open sessions ended."))


# -- API keys -----------------------------------------------------------------------------------

def _key_form(bound: bool = True) -> ApiKeyForm:
    form = ApiKeyForm() if bound else ApiKeyForm(formdata=None)
    form.scopes.choices = [(s, s) for s in SCOPES]
    form.organization.choices = [("", t("— każda JST —", "— any JST —")), *_org_choices()]
    return form


def _keys_page(status: int = 200, error: str | None = None, form: ApiKeyForm | None = None):
    done = _done()
    return render_template("admin_apikeys.html", keys=list_api_keys(authority()),
                           form=form or _key_form(bound=False), error=error,
                           created=unseal(done.get("created")),
                           success=done.get("message")), status


def _to_keys(message: str, **secrets):
    remember(message=message, **{name: seal(value) for name, value in secrets.items()})
    return redirect(url_for("admin.api_keys", done=current_key()), 303)


@bp.route("/admin/api-keys")
@require("administrator")
def api_keys():
    return _keys_page()


@bp.route("/admin/api-keys", methods=["POST"])
@require("administrator")
@once
def create_key():
    """The key is on the result page only, sealed for a short while: the store keeps its
    hash."""
    form = _key_form()
    if not form.validate_on_submit():
        return _keys_page(400, t("Podaj nazwę klucza, zaznacz co najmniej jeden zakres i "
                                 "wybierz JST z listy.",
                                 "Give the key a name, tick at least one scope and pick the "
                                 "JST from the list."), form)
    if "sign-digest" in form.scopes.data and "sign" not in form.scopes.data:
        return _keys_page(400, t("Zakres sign-digest nadaje się razem z zakresem sign.",
                                 "The sign-digest scope is given together with sign."), form)
    try:
        key = create_api_key(authority(), form.name.data, form.scopes.data,
                             form.organization.data or None, actor=current_actor().audit_name)
    except RegCAError as exc:
        return _keys_page(form_status(exc), exc.message, form)
    return _to_keys(t("Utworzono klucz API.", "The API key was created."), created=key)


def _active_key(key_id: str) -> ApiKeyView:
    """The key not revoked that the address names; else the error page's 404."""
    for key in list_api_keys(authority()):
        if key.id == key_id:
            return key
    raise NotFound(t(f"Nie ma aktywnego klucza API o identyfikatorze „{key_id}”.",
                     f"There is no active API key with the id '{key_id}'."))


@bp.route("/admin/api-keys/<key_id>/revoke", methods=["GET", "POST"])
@require("administrator")
@once
def revoke_key(key_id: str):
    """Asked on a page of its own (GET): which key, and that it stops working for good."""
    if request.method == "GET":
        return render_template("admin_apikey_revoke.html", key=_active_key(key_id),
                               button=EmptyForm(formdata=None))
    try:
        revoke_api_key(authority(), key_id, actor=current_actor().audit_name)
    except NotFound:
        raise NotFound(t(f"Nie ma klucza API o identyfikatorze „{key_id}”.",
                         f"There is no API key with the id '{key_id}'.")) from None
    except Conflict:
        return _keys_page(409, t(f"Klucz {key_id} jest już odwołany.",
                                 f"The key {key_id} is revoked already."))
    return _to_keys(t(f"Klucz {key_id} odwołany.", f"The key {key_id} was revoked."))
