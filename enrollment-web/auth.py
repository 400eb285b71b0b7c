"""Who is asking: staff log-in (password, then TOTP), the resident's pickup session, and the
role checks every view declares. The decisions are ``ra.logins``' and ``ra.sessions``'; this is
the web side. The cookie holds only the server-side session's token (``sid``), never who is
signed in, so every request asks the store, and a session ended there is ended everywhere."""

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

from ca.errors import (
    BackedOff,
    ConfigurationError,
    HsmUnavailable,
    Malformed,
    RegCAError,
    Unauthorized,
)
from enrollment_web.forms import LoginForm, NewPasswordForm, TotpForm
from enrollment_web.guessing import backed_off_page, client_source
from enrollment_web.i18n import t
from enrollment_web.once import once
from enrollment_web.services import authority, sessions
from ra import logins
from ra.access import Caller
from ra.sessions import SessionState
from ra.users import MIN_PASSWORD

__all__ = ["bp", "Actor", "current_actor", "require", "STAFF_ROLES", "begin_session",
           "end_session"]

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


_TOKEN = "sid"


def _state() -> SessionState | None:
    """This request's session as the store holds it (once per request); a token the store no
    longer knows leaves the cookie."""
    if "web_session" not in g:
        g.web_session = None  # if the store fails here, its error page shows no one signed in
        g.web_session = sessions().resume(session.get(_TOKEN))
        if g.web_session is None and _TOKEN in session:
            session.pop(_TOKEN)
    return g.web_session


def current_actor() -> Actor | None:
    if "actor" not in g:
        g.actor = None
        state = _state()
        if state is not None and state.stage == "ok" and state.role in STAFF_ROLES:
            orgs = state.organizations if state.role == "officer" else None
            g.actor = Actor(state.username, state.role, orgs)
        elif state is not None and state.stage == "resident":
            g.actor = Actor("resident", "resident", (), state.enrolment)
    return g.actor


def _fresh_cookie() -> None:
    """A new cookie, keeping only the visitor's language (a new CSRF token with it)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    g.pop("web_session", None)
    g.pop("actor", None)


def begin_session(token: str) -> None:
    """The cookie of a new session: fresh at each log-in or pickup (no fixation)."""
    _fresh_cookie()
    session[_TOKEN] = token
    session.permanent = True  # the cookie need not outlive the session's absolute lifetime


def end_session() -> None:
    """Log-out: the store ends every session of this person; the cookie keeps the language."""
    sessions().end(session.get(_TOKEN))
    _fresh_cookie()


def require(*roles: str):
    """Only these roles; an auditor's role never reaches a view that changes anything, because
    such views do not list it."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            actor = current_actor()
            if actor is None:  # a resident never had a log-in: they come back with the code
                if roles == ("resident",):
                    return redirect(url_for("holder.come_back"))
                return redirect(url_for("auth.login", next=request.path))
            if actor.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return inner
    return wrap



def _home_for(role: str) -> str:
    return {"administrator": "admin.index", "officer": "officer.enrolments",
            "auditor": "auditor.events"}[role]


_STAGE_PAGES = {"totp": "auth.totp", "totp_setup": "auth.totp_setup",
                "new_password": "auth.new_password"}


def _onwards(state: SessionState | None):
    """To the page of the session's next stage, its home once signed in."""
    if state is None:
        return redirect(url_for("auth.login"))
    if state.stage == "ok":
        return redirect(url_for(_home_for(state.role)))
    return redirect(url_for(_STAGE_PAGES[state.stage]))


def _advance(completed: str):
    try:
        state = sessions().advance(session[_TOKEN], completed)
    except RegCAError:  # ended meanwhile (reset, disabled, logged out elsewhere)
        state = None
    return _onwards(state)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            who = logins.check_password(authority(), form.username.data, form.password.data,
                                        client_source())
            token = sessions().open_staff(who.username)  # a disabled user: as a wrong password
        except (ConfigurationError, HsmUnavailable):
            raise  # the service's fault (the key that seals a new TOTP secret): a 503 page
        except RegCAError as exc:
            # the page never echoes the name: a known and an unknown one get the same bytes
            form.username.data = None
            if isinstance(exc, BackedOff):
                return backed_off_page(exc, "login.html", form=form)
            return render_template("login.html", form=form, error=t(
                "Nieprawidłowa nazwa użytkownika lub hasło.",
                "Wrong user name or password.")), 401
        begin_session(token)
        return _onwards(_state())
    status = 400 if form.is_submitted() else 200
    return render_template("login.html", form=form, error=error), status


@bp.route("/login/totp", methods=["GET", "POST"])
@once(by_visitor=True)
def totp():
    state = _state()
    if state is None or state.stage != "totp":
        return redirect(url_for("auth.login"))
    form = TotpForm()
    if form.validate_on_submit():
        try:
            logins.check_totp(authority(), state.username, form.code.data, client_source())
        except (BackedOff, Unauthorized) as exc:  # an HSM fault is a 503 page, not a wrong code
            if isinstance(exc, BackedOff):
                return backed_off_page(exc, "totp.html", form=form)
            return render_template("totp.html", form=form, error=t(
                "Nieprawidłowy kod jednorazowy.", "Wrong one-time code.")), 401
        return _advance("totp")
    return render_template("totp.html", form=form, error=None)


@bp.route("/login/totp-setup", methods=["GET", "POST"])
@once(by_visitor=True)
def totp_setup():
    state = _state()
    if state is None or state.stage != "totp_setup":
        return redirect(url_for("auth.login"))
    form = TotpForm()
    secret = state.pending_totp
    error = None
    if form.validate_on_submit():
        try:
            logins.confirm_totp(authority(), state.username, secret, form.code.data)
        except (Malformed, Unauthorized):
            error = t("Kod nie pasuje. Sprawdź zegar w aplikacji i spróbuj ponownie.",
                      "The code does not match. Check the app's clock and try again.")
        else:
            return _advance("totp_setup")
    return render_template("totp_setup.html", form=form, secret=secret, error=error,
                           uri=logins.totp_uri(state.username, secret)), (400 if error else 200)


@bp.route("/login/password", methods=["GET", "POST"])
@once(by_visitor=True)
def new_password():
    """After an administrator's reset: the user's own new password, before anything else."""
    state = _state()
    if state is None or state.stage != "new_password":
        return redirect(url_for("auth.login"))
    form = NewPasswordForm()
    error = None
    if form.validate_on_submit():
        if len(form.password.data) < MIN_PASSWORD:
            error = t(f"Hasło musi mieć co najmniej {MIN_PASSWORD} znaków.",
                      f"The password needs at least {MIN_PASSWORD} characters.")
        elif form.password.data != form.repeat.data:
            error = t("Hasła się różnią.", "The passwords differ.")
        else:
            try:
                return _onwards(sessions().set_own_password(session[_TOKEN],
                                                            form.password.data))
            except RegCAError as exc:
                if not isinstance(exc, Malformed):  # the session ended meanwhile
                    return redirect(url_for("auth.login"))
                error = t("Nowe hasło musi się różnić od tymczasowego.",
                          "The new password must differ from the temporary one.")
    elif form.is_submitted():
        error = t("Wpisz nowe hasło dwa razy.", "Type the new password twice.")
    return render_template("new_password.html", form=form, error=error), (400 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    end_session()
    return redirect(url_for("public.index"))
