"""Server-side sessions of the enrollment web (issue 17): the cookie carries a token the store
must still know, so a log-out ends a copied cookie too; idle and absolute lifetimes on the
pinned clock; the cookie ``Secure`` over https (a proxy's word believed only when configured),
``HttpOnly`` and ``SameSite=Lax``; the TOTP secret being set up never in the cookie."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib

import pyotp
import pytest
from sqlalchemy import select
from webclient import PASSWORD, Visitor, add_staff, next_totp, record_enrolment
from werkzeug.test import Client

from ca.errors import ConfigurationError, Unauthorized
from ca.store.models import AuditEvent, WebSession
from enrollment_web.web import WebSettings
from ra.sessions import WebSessions
from ra.users import create_user, disable_user, enable_user
from regca.roles import enrollment_app, registration_authority

pytestmark = pytest.mark.hsm

JST_A = "0862011"
COOKIE = "session"


@pytest.fixture(scope="module")
def web(home_ctx):
    ctx = home_ctx
    secrets_ = {"officer_s": add_staff(ctx, "officer_s", "officer", [JST_A]),
                "auditor_s": add_staff(ctx, "auditor_s", "auditor")}
    app = enrollment_app(ctx)
    return ctx, app, secrets_


def _login(web, who: str) -> Visitor:
    ctx, app, secrets_ = web
    return Visitor(app, ctx).login(who, secrets_[who])


def _copy(web, v: Visitor) -> Client:
    """Another browser holding a copy of ``v``'s cookie (a stolen one)."""
    thief = Client(web[1])
    thief.set_cookie(COOKIE, v.client.get_cookie(COOKIE).value)
    return thief


def _signed_in(client, page: str = "/enrolments") -> bool:
    r = client.get(page)
    assert r.status_code in (200, 302), r.status_code
    return r.status_code == 200


def _cookie_contents(web, value: str) -> dict:
    """What anyone holding the cookie can read: Flask signs it, it does not encrypt it."""
    app = web[1]
    return app.session_interface.get_signing_serializer(app).loads(value)


# -- log-out -----------------------------------------------------------------------------------

def test_a_copied_cookie_is_refused_after_logout(web):
    officer = _login(web, "officer_s")
    thief = _copy(web, officer)
    assert _signed_in(thief)  # the copy works while the session lives
    r = officer.post("/logout", {}, form_page="/enrolments")
    assert r.status_code == 302
    assert not _signed_in(thief)
    assert thief.get("/enrolments").headers["Location"].startswith("/login")
    assert not _signed_in(officer.client)


def test_logout_ends_every_session_of_that_user_and_is_audited_once(web):
    ctx = web[0]
    desk, laptop = _login(web, "officer_s"), _login(web, "officer_s")
    assert _signed_in(desk.client) and _signed_in(laptop.client)
    desk.post("/logout", {}, form_page="/enrolments")
    assert not _signed_in(laptop.client)
    with ctx.db.reading() as s:
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "logout",
                                                   AuditEvent.actor == "user:officer_s")
                          .order_by(AuditEvent.seq.desc())).scalars().first()
    assert json.loads(event.details)["sessions_ended"] == 2


def test_another_users_session_survives_a_logout(web):
    auditor = _login(web, "auditor_s")
    officer = _login(web, "officer_s")
    officer.post("/logout", {}, form_page="/enrolments")
    assert _signed_in(auditor.client, "/audit")


# -- lifetimes ---------------------------------------------------------------------------------

def test_a_session_ends_after_thirty_idle_minutes(web):
    ctx = web[0]
    officer = _login(web, "officer_s")
    ctx.clock.advance(minutes=29)
    assert _signed_in(officer.client)
    ctx.clock.advance(minutes=29)  # 58 minutes in, but each request restarts the idle time
    assert _signed_in(officer.client)
    ctx.clock.advance(minutes=30)
    assert not _signed_in(officer.client)


def test_a_session_ends_eight_hours_after_log_in_however_busy(web):
    ctx = web[0]
    officer = _login(web, "officer_s")
    for _ in range(23):  # a request every 20 minutes: 7 h 40 min
        ctx.clock.advance(minutes=20)
        assert _signed_in(officer.client)
    ctx.clock.advance(minutes=20)
    assert not _signed_in(officer.client)


def test_lifetimes_come_from_regca_toml(web, tmp_path):
    ctx, _, secrets_ = web
    config = ctx.settings.config_file
    original = config.read_text()
    assert "[enrollment]" not in original
    try:
        config.write_text(original + "\n[enrollment]\nsession_idle_minutes = 5\n"
                                     "session_max_hours = 1\n")
        app = enrollment_app(ctx, WEB_SETTINGS=WebSettings(ctx.settings))
    finally:
        config.write_text(original)
    officer = Visitor(app, ctx).login("officer_s", secrets_["officer_s"])
    ctx.clock.advance(minutes=4)
    assert _signed_in(officer.client)
    ctx.clock.advance(minutes=5)
    assert not _signed_in(officer.client)


@pytest.mark.parametrize("table, named", [
    ("session_idle_minutes = 0", "session_idle_minutes"),
    ('session_max_hours = "8"', "session_max_hours"),
    ("session_idle_minutes = 600\nsession_max_hours = 8", "session_idle_minutes"),
    ("trusted_proxies = -1", "trusted_proxies"),
])
def test_a_bad_session_setting_fails_at_start_naming_it(web, table, named):
    ctx = web[0]
    config = ctx.settings.config_file
    original = config.read_text()
    try:
        config.write_text(original + f"\n[enrollment]\n{table}\n")
        tomllib.loads(config.read_text())
        with pytest.raises(ConfigurationError, match=f"enrollment.{named}"):
            WebSettings(ctx.settings)
    finally:
        config.write_text(original)


# -- the log-in's stages -------------------------------------------------------------------------

def test_no_stage_of_the_log_in_is_skipped(web):
    ctx = web[0]
    create_user(ctx, "officer_stages", PASSWORD, "officer", [JST_A], actor="test")
    sessions = WebSessions(registration_authority(ctx))
    token = sessions.open_staff("officer_stages")  # no TOTP yet: its set-up comes first
    with pytest.raises(Unauthorized):
        sessions.advance(token, "totp")
    with pytest.raises(Unauthorized):
        sessions.set_own_password(token, "a password never asked for")
    state = sessions.resume(token)
    assert state.stage == "totp_setup" and not state.signed_in and state.pending_totp


def test_a_user_disabled_between_password_and_code_is_not_signed_in(web):
    ctx, app, secrets_ = web
    v = Visitor(app, ctx)
    assert v.post("/login", {"username": "auditor_s", "password": PASSWORD}
                  ).headers["Location"] == "/login/totp"
    disable_user(ctx, "auditor_s", actor="test")
    try:
        r = v.post("/login/totp", {"code": next_totp(ctx, secrets_["auditor_s"])},
                   form_page="/login")
        assert r.status_code in (302, 400) and not _signed_in(v.client, "/audit")
    finally:
        enable_user(ctx, "auditor_s", actor="test")


# -- the cookie --------------------------------------------------------------------------------

def _set_cookie(response) -> str:
    found = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{COOKIE}=")]
    assert found, response.headers
    return found[-1]


def _session_cookie_set(app, base_url: str = "http://localhost",
                        headers: dict | None = None) -> str:
    """The Set-Cookie that carries a new session's token (the password step of a log-in),
    asked at ``base_url`` with ``headers``. A browser sends its Referer, which Flask-WTF
    requires of a POST over https."""
    client = Client(app)
    kw = {"base_url": base_url, "headers": {"Referer": f"{base_url}/login", **(headers or {})}}
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/login", **kw).text)[1]
    r = client.post("/login", data={"csrf_token": token, "username": "officer_s",
                                    "password": PASSWORD}, **kw)
    assert r.status_code == 302 and r.headers["Location"] == "/login/totp", r.text
    return _set_cookie(r)


def _attributes(set_cookie: str) -> set[str]:
    return {a.strip().lower() for a in set_cookie.split(";")[1:]}


def test_the_cookie_is_secure_under_https_httponly_and_lax(web):
    app = web[1]
    https = _attributes(_session_cookie_set(app, "https://localhost"))
    plain = _attributes(_session_cookie_set(app))
    assert {"secure", "httponly", "samesite=lax"} <= https
    assert {"httponly", "samesite=lax"} <= plain and "secure" not in plain


def test_x_forwarded_proto_is_believed_only_behind_a_configured_proxy(web):
    ctx, app, _ = web
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.7",
                 "Referer": "https://localhost/login"}
    assert "secure" not in _attributes(_session_cookie_set(app, headers=forwarded))
    settings = WebSettings(ctx.settings)
    settings.trusted_proxies = 1
    behind_proxy = enrollment_app(ctx, WEB_SETTINGS=settings)
    assert "secure" in _attributes(_session_cookie_set(behind_proxy, headers=forwarded))


def test_neither_cookie_nor_database_holds_the_totp_secret_being_set_up(web):
    ctx, app, _ = web
    create_user(ctx, "officer_fresh", PASSWORD, "officer", [JST_A], actor="test")
    v = Visitor(app, ctx)
    r = v.post("/login", {"username": "officer_fresh", "password": PASSWORD})
    assert r.headers["Location"] == "/login/totp-setup"
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', v.get("/login/totp-setup").text)[1]
    contents = _cookie_contents(web, v.client.get_cookie(COOKIE).value)
    # "visitor": the random id a form's idempotency key is claimed for (enrollment_web/once.py)
    assert set(contents) <= {"sid", "lang", "csrf_token", "_permanent", "visitor"}
    assert re.fullmatch(r"[0-9a-f]{32}", contents.get("visitor", "0" * 32))
    assert secret not in repr(contents) and "officer_fresh" not in repr(contents)
    with ctx.db.reading() as s:  # nor the database: it waits there sealed
        waiting = [p for p in s.execute(select(WebSession.pending_totp)).scalars() if p]
    assert waiting and not any(secret in p for p in waiting)
    r = v.post("/login/totp-setup", {"code": pyotp.TOTP(secret).at(ctx.now())})
    assert r.status_code == 302 and _signed_in(v.client)


def test_the_store_keeps_only_the_tokens_hash(web):
    ctx = web[0]
    officer = _login(web, "officer_s")
    token = _cookie_contents(web, officer.client.get_cookie(COOKIE).value)["sid"]
    with ctx.db.reading() as s:
        hashes = set(s.execute(select(WebSession.token_hash)).scalars())
    assert token not in hashes and hashlib.sha256(token.encode()).hexdigest() in hashes


def test_a_cookie_with_a_made_up_token_opens_nothing(web):
    officer = _login(web, "officer_s")
    app = web[1]
    contents = _cookie_contents(web, officer.client.get_cookie(COOKIE).value)
    forged = app.session_interface.get_signing_serializer(app).dumps(
        {**contents, "sid": "x" * 43})
    stranger = Client(app)
    stranger.set_cookie(COOKIE, forged)
    assert not _signed_in(stranger)


# -- the resident's pickup session ---------------------------------------------------------------

def _pickup(web) -> Visitor:
    from conftest import RESIDENT
    officer = _login(web, "officer_s")
    _, code = record_enrolment(officer, {"kind": "resident", "organization_teryt": JST_A,
                                         "revocation_password": "haslo-do-uniewaznienia",
                                         **RESIDENT})
    resident = Visitor(web[1], web[0])
    assert resident.pickup(code).headers["Location"] == "/my"
    return resident


def test_a_residents_copied_cookie_is_refused_after_leaving(web):
    resident = _pickup(web)
    thief = _copy(web, resident)
    assert _signed_in(thief, "/my")
    assert resident.post("/my/logout", {}, form_page="/my").status_code == 302
    assert not _signed_in(thief, "/my") and not _signed_in(resident.client, "/my")


def test_a_residents_session_ends_after_thirty_idle_minutes(web):
    ctx = web[0]
    resident = _pickup(web)
    ctx.clock.advance(minutes=29)
    assert _signed_in(resident.client, "/my")
    ctx.clock.advance(minutes=30)
    assert not _signed_in(resident.client, "/my")


# -- the store away ------------------------------------------------------------------------------

def test_a_signed_in_page_with_the_database_gone_is_a_503_page(tmp_path):
    """Every request of a signed-in visitor reads the store: with its files moved away the
    answer is the 'try later' page, whose own header asks nobody's session again."""
    from conftest import make_home
    ctx = make_home(tmp_path / "home")
    try:
        app = enrollment_app(ctx)
        officer = Visitor(app, ctx).login("officer_z", add_staff(ctx, "officer_z", "officer",
                                                                 [JST_A]))
        assert _signed_in(officer.client)
        files = [p for p in ctx.db.files if p.exists()]
        hidden = tmp_path / "moved-away"
        hidden.mkdir()
        for path in files:
            path.rename(hidden / path.name)
        try:
            r = officer.get("/enrolments")
            assert r.status_code == 503 and r.mimetype == "text/html", r.text[:300]
        finally:
            for path in files:
                (hidden / path.name).rename(path)
        assert _signed_in(officer.client)
    finally:
        ctx.db.dispose()
