"""Who is asking: staff log-in (password, then TOTP), the resident's pickup session, and the
role checks every view declares. The decisions are ``ra.logins``'; this is the web side."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import (
    Blueprint,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from ca.errors import BackedOff, Malformed, RegCAError, Unauthorized
from enrollment_web.forms import LoginForm, TotpForm
from enrollment_web.guessing import backed_off_page, client_source
from enrollment_web.i18n import t
from enrollment_web.services import authority
from ra import logins
from ra.access import Caller

__all__ = ["bp", "Actor", "current_actor", "require", "STAFF_ROLES"]

bp = Blueprint("auth", __name__)
STAFF_ROLES = ("administrator", "officer", "auditor")


@dataclass(frozen=True)
class Actor:
    """The signed-in person: ``orgs`` is the JST scope (None: every JST, read or write as the
    role allows)."""

    name: str
    role: str
    orgs: tuple[str, ...] | None
    enrolment: int | None = None  # a resident's own enrolment

    @property
    def audit_name(self) -> str:
        if self.role == "resident":
            return f"resident:enrolment:{self.enrolment}"
        return f"user:{self.name}"

    @property
    def caller(self) -> Caller:
        """The signed-in person as ``ra.access`` judges certificate requests."""
        if self.role == "resident":
            return Caller.resident(self.enrolment)
        if self.role == "officer":
            return Caller.officer(self.name, self.orgs or ())
        if self.role == "auditor":
            return Caller.auditor(self.name)
        return Caller(self.audit_name, frozenset())  # administrators manage, never certificates


def current_actor() -> Actor | None:
    if "actor" not in g:
        g.actor = None
        if session.get("stage") == "ok" and session.get("role") in STAFF_ROLES:
            orgs = tuple(session.get("orgs", ())) if session["role"] == "officer" else None
            g.actor = Actor(session["user"], session["role"], orgs)
        elif session.get("resident_enrolment"):
            g.actor = Actor("resident", "resident", (), session["resident_enrolment"])
    return g.actor


def require(*roles: str):
    """Only these roles; an auditor's role never reaches a view that changes anything, because
    such views do not list it."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            actor = current_actor()
            if actor is None:
                return redirect(url_for("auth.login", next=request.path))
            if actor.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return inner
    return wrap



def _home_for(role: str) -> str:
    return {"administrator": "admin.index", "officer": "officer.enrolments",
            "auditor": "auditor.events"}[role]


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            who = logins.check_password(authority(), form.username.data, form.password.data,
                                        client_source())
        except RegCAError as exc:
            # the page never echoes the name: a known and an unknown one get the same bytes
            form.username.data = None
            if isinstance(exc, BackedOff):
                return backed_off_page(exc, "login.html", form=form)
            return render_template("login.html", form=form, error=t(
                "Nieprawidłowa nazwa użytkownika lub hasło.",
                "Wrong user name or password.")), 401
        lang = session.get("lang")
        session.clear()  # a fresh session at each log-in (no fixation)
        session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME
        session.update(lang=lang, user=who.username, role=who.role, orgs=list(who.organizations),
                       stage="totp" if who.totp_enrolled else "totp_setup")
        if not who.totp_enrolled:
            session["totp_secret"] = logins.start_totp()
            return redirect(url_for("auth.totp_setup"))
        return redirect(url_for("auth.totp"))
    status = 400 if form.is_submitted() else 200
    return render_template("login.html", form=form, error=error), status


@bp.route("/login/totp", methods=["GET", "POST"])
def totp():
    if session.get("stage") != "totp":
        return redirect(url_for("auth.login"))
    form = TotpForm()
    if form.validate_on_submit():
        try:
            logins.check_totp(authority(), session["user"], form.code.data, client_source())
        except (BackedOff, Unauthorized) as exc:  # an HSM fault is a 503 page, not a wrong code
            if isinstance(exc, BackedOff):
                return backed_off_page(exc, "totp.html", form=form)
            return render_template("totp.html", form=form, error=t(
                "Nieprawidłowy kod jednorazowy.", "Wrong one-time code.")), 401
        session["stage"] = "ok"
        return redirect(url_for(_home_for(session["role"])))
    return render_template("totp.html", form=form, error=None)


@bp.route("/login/totp-setup", methods=["GET", "POST"])
def totp_setup():
    if session.get("stage") != "totp_setup":
        return redirect(url_for("auth.login"))
    form = TotpForm()
    secret = session["totp_secret"]
    error = None
    if form.validate_on_submit():
        try:
            logins.confirm_totp(authority(), session["user"], secret, form.code.data)
        except (Malformed, Unauthorized):
            error = t("Kod nie pasuje. Sprawdź zegar w aplikacji i spróbuj ponownie.",
                      "The code does not match. Check the app's clock and try again.")
        else:
            session.pop("totp_secret")
            session["stage"] = "ok"
            return redirect(url_for(_home_for(session["role"])))
    return render_template("totp_setup.html", form=form, secret=secret, error=error,
                           uri=logins.totp_uri(session["user"], secret)), (400 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    actor = current_actor()
    if actor is not None:
        logins.logout(authority(), actor.audit_name)
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("public.index"))
