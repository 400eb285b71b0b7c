"""The enrollment web: officers enrol, residents collect, auditors review (issue 6).

Server-rendered pages that work without JavaScript. Who is signed in is kept in the store
(``ra.sessions``); Flask's signed cookie (the key lives in the home, 0600) carries only that
session's random token, the language and the CSRF token. CSRF is Flask-WTF's, and every page is
Polish unless the visitor picked English.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import tomllib
from pathlib import Path

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from ca.config import Settings, write_softhsm_conf
from ca.errors import ConfigurationError
from ca.identity import mask_pesel
from ca.services import ReadOnlyStore
from enrollment_web.auth import bp as auth_bp
from enrollment_web.auth import current_actor
from enrollment_web.errorpages import install_error_pages
from enrollment_web.forms import EmptyForm
from enrollment_web.i18n import current_language, init_babel, local_time, remember_language, t
from enrollment_web.legal import Operator
from enrollment_web.legal import bp as legal_bp
from enrollment_web.names import (
    event_name,
    outcome_name,
    profile_name,
    reason_name,
    role_name,
    token_state_name,
)
from enrollment_web.once import form_key
from ra.authority import RegistrationAuthority
from ra.sessions import Lifetimes, WebSessions

__all__ = ["create_enrollment_app", "WebSettings"]

public = Blueprint("public", __name__)


@public.route("/")
def index():
    actor = current_actor()
    if actor is not None and actor.role == "resident":
        return redirect(url_for("resident.mine"))
    return render_template("index.html")


def _secret_key(home: Path) -> bytes:
    """The session-signing key, made once per home and readable only by its owner."""
    path = home / "web-secret.key"
    if not path.exists():
        # Written aside, then linked into place: gunicorn workers booting together on a fresh
        # home all end up with the one key that won, never with a half-written file.
        tmp = home / f".web-secret.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return bytes.fromhex(path.read_text().strip())


class WebSettings:
    """``[enrollment]`` in regca.toml: where the officer's workstation token is reachable.

    With SoftHSM2 and nothing configured, subscriber tokens live in ``<home>/station``, a
    store apart from the CA's own tokens, so nothing typed on these pages reaches a CA key."""

    def __init__(self, settings: Settings):
        self.home = settings.home
        raw = tomllib.loads(settings.config_file.read_text()).get("enrollment", {})
        self.token_module: str = raw.get("token_module", settings.hsm.module)
        conf = raw.get("token_softhsm_conf")
        self.token_softhsm_conf: str | None = str(settings.home / conf) if conf else None
        if conf is None and "softhsm" in Path(self.token_module).name:
            station = settings.home / "station"
            if not (station / "softhsm2.conf").exists():
                write_softhsm_conf(station / "softhsm2.conf", station / "tokens")
            self.token_softhsm_conf = str(station / "softhsm2.conf")
        # Secure cookies even when the request came over http (a proxy that says nothing).
        self.secure_cookies: bool = bool(raw.get("secure_cookies", False))
        # How many reverse proxies stand in front and set X-Forwarded-For and -Proto; those
        # headers are believed only then (README, "Behind a reverse proxy").
        self.trusted_proxies: int = _whole(raw, "trusted_proxies", 0, minimum=0)
        try:
            self.lifetimes = Lifetimes(
                idle=dt.timedelta(minutes=_whole(raw, "session_idle_minutes", 30)),
                absolute=dt.timedelta(hours=_whole(raw, "session_max_hours", 8)))
        except ValueError as exc:
            raise ConfigurationError(f"enrollment.session_idle_minutes: {exc}") from None
        self.policies_dir: Path = settings.policies_dir
        self.operator = Operator(raw.get("operator", {}))


def _whole(raw: dict, key: str, default: int, minimum: int = 1) -> int:
    value = raw.get(key, default)
    if type(value) is not int or value < minimum:
        raise ConfigurationError(f"enrollment.{key}: a whole number of at least {minimum} "
                                 f"expected, not {value!r}")
    return value


class _SessionCookie(SecureCookieSessionInterface):
    """Flask's signed cookie, ``Secure`` whenever the page was asked for over https (the
    request's scheme: the server's, or a trusted proxy's X-Forwarded-Proto)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def create_enrollment_app(ra: RegistrationAuthority, store: ReadOnlyStore,
                          settings: WebSettings, **config) -> Flask:
    """The pages, given the registration authority (it acts: enrols, issues, revokes, logs
    in) and a read-only view of the store (they read through it); built by regca/roles.py."""
    from enrollment_web.admin import bp as admin_bp
    from enrollment_web.auditor import bp as auditor_bp
    from enrollment_web.bulk_enrolment import bp as bulk_bp
    from enrollment_web.expiring import bp as expiring_bp
    from enrollment_web.holder import bp as holder_bp
    from enrollment_web.officer import bp as officer_bp
    from enrollment_web.organizations_admin import bp as organizations_bp
    from enrollment_web.printouts import bp as printouts_bp
    from enrollment_web.renewal import bp as renewal_bp
    from enrollment_web.resident import bp as resident_bp
    from enrollment_web.tokens import bp as tokens_bp
    from enrollment_web.totp_qr import bp as totp_qr_bp

    app = Flask("enrollment_web", template_folder=str(Path(__file__).parent / "templates"),
                static_folder=str(Path(__file__).parent / "static"))
    app.config.update(
        SECRET_KEY=_secret_key(settings.home),
        REGCA_RA=ra,
        REGCA_STORE=store,
        WEB_SETTINGS=settings,
        WEB_SESSIONS=WebSessions(ra, settings.lifetimes),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # The store ends a session (ra.sessions); the cookie only need not outlive it.
        PERMANENT_SESSION_LIFETIME=settings.lifetimes.absolute,
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    app.config.update(config)
    app.session_interface = _SessionCookie()
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)
    CSRFProtect(app)
    init_babel(app)
    for bp in (public, legal_bp, auth_bp, officer_bp, resident_bp, auditor_bp, admin_bp, tokens_bp):
        app.register_blueprint(bp)
    # a registration office's day (issue 18)
    for bp in (bulk_bp, expiring_bp, printouts_bp, renewal_bp, totp_qr_bp, holder_bp,
               organizations_bp):
        app.register_blueprint(bp)
    install_error_pages(app)

    @app.before_request
    def _language():
        remember_language()

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; frame-ancestors 'none'")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.context_processor
    def _globals():
        def lang_url(lang: str) -> str:
            """This page in the other language; after a POST (a result shown once) the
            switch leads to the start page instead of re-sending the form."""
            if request.method != "GET" or not request.endpoint:
                return url_for("public.index", lang=lang)
            args = dict(request.args)
            args["lang"] = lang
            return url_for(request.endpoint, **(request.view_args or {}), **args)
        def page_url(number: int, endpoint: str | None = None) -> str:
            """This list at another page, keeping the search and filters; ``endpoint``: the
            list's own view, when a form's POST answered with the list."""
            args = dict(request.args)
            args["page"] = number
            return url_for(endpoint or request.endpoint, **(request.view_args or {}), **args)
        return {"t": t, "lang": current_language(), "actor": current_actor(),
                "mask_pesel": mask_pesel, "lang_url": lang_url, "logout_form": EmptyForm(),
                "page_url": page_url, "form_key": form_key, "operator": settings.operator,
                "role_name": role_name, "token_state_name": token_state_name,
                "reason_name": reason_name, "event_name": event_name,
                "outcome_name": outcome_name, "profile_name": profile_name,
                "local_time": local_time}

    return app
