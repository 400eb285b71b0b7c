"""Guessing secrets through the enrollment web (issue 17, "Guessing"): staff passwords, TOTP
codes, pickup codes and revocation passwords back off exponentially per source and per account
from a source, in the database that every worker shares; a backed-off guess gets 429 with
Retry-After before any argon2 hash is computed; unknown and known names get the same bytes;
pickup codes expire and an officer reissues them. SQLite and PostgreSQL (conftest's home_ctx).
"""

from __future__ import annotations

import datetime as dt
import http.client
import re
import time
import types
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from argon2 import PasswordHasher
from conftest import RESIDENT, make_csr
from sqlalchemy import select
from tsa_support import regca_serve, server_workers
from webclient import (
    PASSWORD,
    Visitor,
    add_staff,
    issue_from_csr,
    next_totp,
    pickup_code,
    record_enrolment,
)

from ca.clock import FixedClock
from ca.errors import ConfigurationError
from ca.services import ReadOnlyStore
from ca.store.db import Database
from ca.store.models import AuditEvent
from enrollment_web.web import WebSettings, create_enrollment_app
from ra.authority import RegistrationAuthority
from ra.backoff import ACCOUNT_FREE, SOURCE_FREE, Backoff, scopes, source_of
from ra.settings import RaSettings
from regca.roles import enrollment_app, issuing_ca

pytestmark = pytest.mark.hsm

JST = "0862011"
ATTACKER, VICTIM = "203.0.113.7", "198.51.100.20"
_WAIT = re.compile(r"Spróbuj ponownie za (\d+) s\.")


@pytest.fixture(scope="module")
def web(home_ctx):
    ctx = home_ctx
    secret = add_staff(ctx, "officer_g", "officer", [JST])
    return ctx, enrollment_app(ctx), secret


def _from(app, ctx, address: str) -> Visitor:
    """A visitor whose every request comes from ``address`` (as the server sees its peer)."""
    def at_address(environ, start_response):
        return app(dict(environ, REMOTE_ADDR=address), start_response)
    return Visitor(at_address, ctx)


@pytest.fixture
def argon2_calls(monkeypatch):
    """How many argon2 verifications ran (every password check goes through
    ``PasswordHasher.verify``): a list the test reads, the real verification still done."""
    calls = []
    real = PasswordHasher.verify

    def counted(self, hash_, password):
        calls.append(1)
        return real(self, hash_, password)
    monkeypatch.setattr(PasswordHasher, "verify", counted)
    return calls


def _enrol_and_issue(officer: Visitor, password="moje-haslo-123") -> tuple[int, str, str]:
    enrolment_id, code = record_enrolment(officer, {
        "kind": "resident", "organization_teryt": JST, "revocation_password": password,
        **RESIDENT})
    return enrolment_id, code, issue_from_csr(officer, enrolment_id, make_csr())


def _wait_of(r) -> int:
    assert r.status_code == 429, (r.status_code, r.text[:300])
    shown = int(_WAIT.search(r.text)[1])
    assert r.headers["Retry-After"] == str(shown) and shown >= 1
    return shown


# -- the rule itself -------------------------------------------------------------------------

def test_waits_double_from_the_first_wait_up_to_the_cap():
    rule = Backoff(dt.timedelta(seconds=1), dt.timedelta(minutes=15))
    account = scopes("password", "192.0.2.1", "admin")[1]
    waits = [rule.wait(account, n).total_seconds() for n in range(1, 16)]
    assert waits[:ACCOUNT_FREE - 1] == [0] * (ACCOUNT_FREE - 1)
    assert waits[ACCOUNT_FREE - 1:ACCOUNT_FREE + 3] == [1, 2, 4, 8]
    assert max(waits) == 900 and waits[-1] == 900


def test_ipv6_sources_count_per_64_and_mapped_ipv4_as_ipv4():
    assert source_of("2001:db8:1:2::5") == source_of("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert source_of("2001:db8:1:3::5") != source_of("2001:db8:1:2::5")
    assert source_of("::ffff:192.0.2.7") == source_of("192.0.2.7") == "192.0.2.7"
    assert source_of(None) == source_of("not an address") == "unknown"


def test_settings_read_pickup_days_and_refuse_bad_values():
    assert RaSettings.from_toml({}).pickup_validity == dt.timedelta(days=30)
    assert RaSettings.from_toml({"enrollment": {"pickup_code_days": 7}}).pickup_validity == \
        dt.timedelta(days=7)
    custom = RaSettings.from_toml({"backoff": {"first_wait_seconds": 5, "max_wait_seconds": 60}})
    assert (custom.backoff.first, custom.backoff.cap) == (dt.timedelta(seconds=5),
                                                         dt.timedelta(seconds=60))
    for raw, field in (({"enrollment": {"pickup_code_days": 0}}, "pickup_code_days"),
                       ({"enrollment": {"pickup_code_days": "30"}}, "pickup_code_days"),
                       ({"backoff": {"max_wait_seconds": -1}}, "max_wait_seconds"),
                       ({"backoff": {"first_wait_seconds": 90, "max_wait_seconds": 60}},
                        "first_wait_seconds")):
        with pytest.raises(ConfigurationError, match=field):
            RaSettings.from_toml(raw)


# -- revocation passwords --------------------------------------------------------------------

def test_revocation_password_guessing_gets_429_and_no_argon2_work(web, argon2_calls):
    ctx, app, secret = web
    officer = _from(app, ctx, "192.0.2.10").login("officer_g", secret)
    _, code, serial = _enrol_and_issue(officer)
    resident = _from(app, ctx, ATTACKER)
    assert resident.pickup(code).status_code == 302
    path = f"/my/certificates/{serial}/revoke"
    for _ in range(ACCOUNT_FREE):
        before = len(argon2_calls)
        wrong = resident.post(path, {"password": "zgaduje-haslo"})
        assert wrong.status_code == 401 and len(argon2_calls) == before + 1
    before = len(argon2_calls)
    refused = [resident.post(path, {"password": guess})
               for guess in ("zgaduje-dalej", "moje-haslo-123")]
    assert [r.status_code for r in refused] == [429, 429]
    assert len(argon2_calls) == before  # refused before any hash was computed
    wait = _wait_of(refused[0])
    assert "ważny" in resident.get("/my").text  # nothing revoked
    ctx.clock.advance(seconds=wait)
    ok = resident.post(path, {"password": "moje-haslo-123"})
    assert ok.status_code == 303 and "unieważniony" in resident.get("/my").text


def test_revocation_back_off_doubles_after_its_window(web):
    ctx, app, secret = web
    officer = _from(app, ctx, "192.0.2.10").login("officer_g", secret)
    _, code, serial = _enrol_and_issue(officer)
    resident = _from(app, ctx, "203.0.113.8")
    resident.pickup(code)
    path = f"/my/certificates/{serial}/revoke"
    for _ in range(ACCOUNT_FREE):
        resident.post(path, {"password": "zle-haslo-1"})
    first = _wait_of(resident.post(path, {"password": "zle-haslo-2"}))
    ctx.clock.advance(seconds=first)
    assert resident.post(path, {"password": "zle-haslo-3"}).status_code == 401
    second = _wait_of(resident.post(path, {"password": "zle-haslo-4"}))
    assert second == 2 * first


# -- staff log-in ----------------------------------------------------------------------------

def _demo_admin_password(ctx) -> str:
    line = next(x for x in (ctx.settings.home / "demo-logins.txt").read_text().splitlines()
                if x.startswith("admin\t"))
    return line.split("\t")[2]


def test_backing_admin_off_from_one_source_leaves_admin_free_from_another(web, argon2_calls):
    ctx, app, _ = web
    password = _demo_admin_password(ctx)
    attacker = _from(app, ctx, ATTACKER)
    for _ in range(ACCOUNT_FREE):
        r = attacker.post("/login", {"username": "admin", "password": "admin123admin"})
        assert r.status_code == 401
    before = len(argon2_calls)
    refused = attacker.post("/login", {"username": "admin", "password": password})
    wait = _wait_of(refused)
    assert len(argon2_calls) == before  # even the right password: refused unhashed
    for _ in range(3):  # the attacker keeps at it, past the old lock-out's five failures
        ctx.clock.advance(seconds=wait)
        r = attacker.post("/login", {"username": "admin", "password": "admin123admin"})
        assert r.status_code == 401
        wait = _wait_of(attacker.post("/login", {"username": "admin", "password": password}))
    victim = _from(app, ctx, VICTIM).post("/login", {"username": "admin", "password": password})
    assert victim.status_code == 302 and victim.headers["Location"] == "/login/totp-setup"


def test_one_source_guessing_many_names_backs_off_as_a_source(web):
    ctx, app, _ = web
    sprayer = _from(app, ctx, "203.0.113.9")
    codes = [sprayer.post("/login", {"username": f"user{i}", "password": "Wiosna2026!"}
                          ).status_code for i in range(SOURCE_FREE + 1)]
    assert codes == [401] * SOURCE_FREE + [429]


def test_unknown_and_known_names_get_byte_identical_answers(web, argon2_calls):
    ctx, _, _ = web
    add_staff(ctx, "officer_known", "officer", [JST])
    # CSRF tokens are random per session: off here, so that every other byte can be compared
    app = enrollment_app(ctx, WTF_CSRF_ENABLED=False)
    known, unknown = _from(app, ctx, "192.0.2.31"), _from(app, ctx, "192.0.2.32")
    for attempt in range(ACCOUNT_FREE + 2):
        calls = len(argon2_calls)
        a = known.client.post("/login", data={"username": "officer_known",
                                               "password": "not the password"})
        hashed_known = len(argon2_calls) - calls
        b = unknown.client.post("/login", data={"username": "officer_unkno",
                                                "password": "not the password"})
        hashed_unknown = len(argon2_calls) - calls - hashed_known
        assert a.status_code == b.status_code == (401 if attempt < ACCOUNT_FREE else 429)
        assert a.data == b.data
        assert sorted(a.headers.items()) == sorted(b.headers.items())
        assert hashed_known == hashed_unknown == (1 if attempt < ACCOUNT_FREE else 0)
    assert b"officer_unkno" not in b.data and b"officer_known" not in a.data


def test_totp_guessing_backs_off_and_the_right_code_works_after_the_window(web):
    ctx, app, secret = web
    v = _from(app, ctx, "192.0.2.40")
    assert v.post("/login", {"username": "officer_g", "password": PASSWORD}).status_code == 302
    for _ in range(ACCOUNT_FREE):
        assert v.post("/login/totp", {"code": "000000"}).status_code == 401
    # the right code, one step ahead (RFC 6238 §5.2 drift) so the pinned clock stays put
    ahead = pyotp.TOTP(secret).at(ctx.now() + dt.timedelta(seconds=30))
    wait = _wait_of(v.post("/login/totp", {"code": ahead}))
    ctx.clock.advance(seconds=wait)
    ok = v.post("/login/totp", {"code": next_totp(ctx, secret)})
    assert ok.status_code == 302 and v.get("/enrolments").status_code == 200


# -- shared by every worker ------------------------------------------------------------------

def _second_instance(ctx):
    """The pages as another worker builds them: its own connection pool to the same database,
    its own registration authority; nothing in memory shared with the first."""
    db = Database(ctx.settings.database_url)
    ra = RegistrationAuthority(db, ctx.clock, ctx.profiles, issuing_ca(ctx), ctx.people,
                               ctx.fields, RaSettings.load(ctx.settings))
    app = create_enrollment_app(ra, ReadOnlyStore(db, ctx.clock, ctx.profiles, ctx.people,
                                                  ctx.fields),
                                WebSettings(ctx.settings))
    return app, db


def test_back_off_is_shared_by_two_app_instances_on_one_database(web):
    ctx, first, _ = web
    second, db = _second_instance(ctx)
    try:
        v1, v2 = _from(first, ctx, "192.0.2.50"), _from(second, ctx, "192.0.2.50")
        guesses = [v1, v2, v1][:ACCOUNT_FREE]
        assert [v.post("/login", {"username": "officer_g", "password": "wrong wrong"}
                       ).status_code for v in guesses] == [401] * ACCOUNT_FREE
        assert _wait_of(v2.post("/login", {"username": "officer_g", "password": PASSWORD}))
        assert _wait_of(v1.post("/login", {"username": "officer_g", "password": PASSWORD}))
    finally:
        db.dispose()


# -- pickup codes ----------------------------------------------------------------------------

def test_pickup_guessing_backs_off_per_source(web):
    ctx, app, _ = web
    v = _from(app, ctx, "203.0.113.60")
    codes = [v.pickup(f"ZZZZ-ZZZZ-ZZZZ-{i:04d}").status_code for i in range(SOURCE_FREE + 1)]
    assert codes == [401] * SOURCE_FREE + [429]
    assert _wait_of(v.pickup("ZZZZ-ZZZZ-ZZZZ-ZZZZ"))


def test_expired_pickup_code_is_refused_and_a_reissued_one_works(web):
    ctx, _, secret = web
    clock = FixedClock(ctx.now())  # the RA's own clock: the rest of the module keeps its time
    ra = RegistrationAuthority(ctx.db, clock, ctx.profiles, issuing_ca(ctx), ctx.people,
                               ctx.fields, RaSettings.load(ctx.settings))
    app = enrollment_app(ctx, ra=ra)
    at = types.SimpleNamespace(clock=clock, now=clock.now)  # TOTP codes at the RA's time
    officer = _from(app, at, "192.0.2.70").login("officer_g", secret)
    _, early, _ = _enrol_and_issue(officer)
    late_id, late, _ = _enrol_and_issue(officer)
    clock.advance(days=30, seconds=-60)
    assert _from(app, at, "192.0.2.71").pickup(early).status_code == 302  # a minute to spare
    clock.advance(seconds=60)
    refused = _from(app, at, "192.0.2.72").pickup(late)
    assert refused.status_code == 401 and "Kod odbioru wygasł" in refused.text
    # a month on, the officer's session has long ended (ra.sessions): a new log-in
    officer = _from(app, at, "192.0.2.70").login("officer_g", secret)
    page = officer.get(f"/enrolments/{late_id}").text
    assert re.search(r'id="pickup-state">wygasł', page)
    r = officer.post(f"/enrolments/{late_id}/pickup-code", {}, form_page=f"/enrolments/{late_id}")
    assert r.status_code == 303, r.text
    r = officer.get(r.headers["Location"])
    assert r.status_code == 200 and 'id="pickup-expires">30<' in r.text
    fresh = pickup_code(r.text)
    assert fresh != late
    assert _from(app, at, "192.0.2.73").pickup(late).status_code == 401  # the old one: gone
    assert _from(app, at, "192.0.2.73").pickup(fresh).status_code == 302
    with ctx.db.reading() as s:
        actions = [e.action for e in s.execute(
            select(AuditEvent).where(AuditEvent.object == f"enrolment:{late_id}")
            .order_by(AuditEvent.seq)).scalars()]
    assert actions[-3:] == ["pickup.redeem", "enrolment.pickup_code", "pickup.redeem"]


# -- a served home, two workers (last: it sets a longer first wait while it serves) ----------

def _login_over_http(base: str, source: str, username: str, password: str):
    """GET the log-in form and POST it on fresh connections from ``source`` (an address of
    the loopback network); returns (status, Retry-After)."""
    host, port = base.removeprefix("http://").split(":")

    def request(method: str, body: str | None = None, cookie: str | None = None):
        conn = http.client.HTTPConnection(host, int(port), timeout=60,
                                          source_address=(source, 0))
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        if cookie:
            headers["Cookie"] = cookie
        try:
            conn.request(method, "/login", body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.getheader("Set-Cookie"), r.getheader("Retry-After"), r.read()
        finally:
            conn.close()

    _, set_cookie, _, page = request("GET")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page)[1].decode()
    form = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrf_token": token})
    status, _, retry_after, _ = request("POST", form, set_cookie.split(";")[0])
    return status, retry_after


@pytest.mark.slow
def test_back_off_is_shared_by_the_workers_of_a_served_home(web):
    ctx = web[0]
    config = ctx.settings.config_file
    kept = config.read_text()
    # a wait no slow argon2 run outlasts: the test's guesses come from the wall clock here
    config.write_text(kept + "\n[backoff]\nfirst_wait_seconds = 600\n")
    try:
        with regca_serve(ctx.settings.home, workers=2) as (base, proc):
            deadline = time.monotonic() + 30
            while len(server_workers(proc)) < 2:
                assert time.monotonic() < deadline, "the server did not start two workers"
                time.sleep(0.1)
            password = _demo_admin_password(ctx)
            wrong = [_login_over_http(base, "127.0.0.1", "admin", "admin-guess-1")[0]
                     for _ in range(ACCOUNT_FREE)]
            assert wrong == [401] * ACCOUNT_FREE
            with ThreadPoolExecutor(8) as pool:  # concurrent connections: both workers answer
                answers = list(pool.map(
                    lambda _: _login_over_http(base, "127.0.0.1", "admin", password),
                    range(16)))
            assert {status for status, _ in answers} == {429}
            assert all(0 < int(wait) <= 600 for _, wait in answers)
            assert _login_over_http(base, "127.0.0.2", "admin", password) == (302, None)
    finally:
        config.write_text(kept)
