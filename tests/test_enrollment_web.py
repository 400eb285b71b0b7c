"""The enrollment web's rules through the composed WSGI app: log-in, JST scope, residents kept
apart, read-only auditors, CSRF, single-use pickup codes, and what the pages show."""

from __future__ import annotations

import csv
import io
import re

import pytest
from conftest import RESIDENT, make_csr
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from sqlalchemy import func, select
from webclient import PASSWORD, Visitor, add_staff, pickup_code

from ca.store.models import Enrolment
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm

JST_A, JST_B = "0862011", "0861011"
SECOND = {"given_name": "Adam", "surname": "Wiśniewski", "pesel": "44051401359"}


@pytest.fixture(scope="module")
def web(home_ctx):
    """A demo home on SQLite and on PostgreSQL (conftest's home_ctx), with staff of two JST."""
    ctx = home_ctx
    secrets_ = {
        "officer_a": add_staff(ctx, "officer_a", "officer", [JST_A]),
        "officer_b": add_staff(ctx, "officer_b", "officer", [JST_B]),
        "auditor": add_staff(ctx, "auditor", "auditor"),
        "admin2": add_staff(ctx, "admin2", "administrator"),
    }
    app = create_app(ctx.settings.home, ctx)
    return ctx, app, secrets_


def visitor(web, who: str | None = None) -> Visitor:
    ctx, app, secrets_ = web
    v = Visitor(app, ctx)
    return v.login(who, secrets_[who]) if who else v


def _enrol(v: Visitor, teryt: str, subject=RESIDENT, password="haslo-do-uniewaznienia"):
    r = v.post("/enrolments/new", {"kind": "resident", "organization_teryt": teryt,
                                   "revocation_password": password, **subject})
    assert r.status_code == 200, r.text
    enrolment_id = int(re.search(r'href="/enrolments/(\d+)"', r.text)[1])
    return enrolment_id, pickup_code(r.text)


def _issue(v: Visitor, enrolment_id: int, profile="resident-signing") -> str:
    r = v.post(f"/enrolments/{enrolment_id}/csr",
               {"profile": profile, "csr": (io.BytesIO(make_csr()), "req.pem")},
               form_page=f"/enrolments/{enrolment_id}")
    assert r.status_code == 200, r.text
    return re.search(r'<ul id="issued"><li><strong>[a-z-]+</strong>: <code>([0-9a-f]+)</code>',
                     r.text)[1]


def _enrolment_count(ctx) -> int:
    with ctx.db.reading() as s:
        return s.execute(select(func.count()).select_from(Enrolment)).scalar_one()


# -- log-in ------------------------------------------------------------------------------------

def test_staff_page_redirects_to_login_when_anonymous(web):
    r = visitor(web).get("/enrolments")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")


def test_password_alone_does_not_log_in(web):
    v = visitor(web)
    r = v.post("/login", {"username": "officer_a", "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"] == "/login/totp"
    assert v.get("/enrolments").status_code == 302  # still outside
    r = v.post("/login/totp", {"code": "000000"})
    assert r.status_code == 401 and "Nieprawidłowy kod" in r.text


def test_first_login_enrols_totp(web):
    ctx, app, _ = web
    import pyotp

    from ra.users import create_user
    create_user(ctx, "officer_new", PASSWORD, "officer", [JST_A], actor="test")
    v = Visitor(app, ctx)
    r = v.post("/login", {"username": "officer_new", "password": PASSWORD})
    assert r.headers["Location"] == "/login/totp-setup"
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', v.get("/login/totp-setup").text)[1]
    r = v.post("/login/totp-setup", {"code": pyotp.TOTP(secret).at(ctx.now())})
    assert r.status_code == 302 and v.get("/enrolments").status_code == 200


# -- JST scope ---------------------------------------------------------------------------------

def test_officer_of_jst_a_gets_403_for_everything_of_jst_b(web):
    officer_b, officer_a = visitor(web, "officer_b"), visitor(web, "officer_a")
    enrolment_b, _ = _enrol(officer_b, JST_B, SECOND)
    serial_b = _issue(officer_b, enrolment_b)
    token = officer_a.csrf("/enrolments")  # any page of A's session carries A's CSRF token
    assert officer_a.get(f"/enrolments/{enrolment_b}").status_code == 403
    for path, data in ((f"/enrolments/{enrolment_b}/csr",
                        {"profile": "resident-signing",
                         "csr": (io.BytesIO(make_csr()), "r.pem")}),
                       (f"/enrolments/{enrolment_b}/token",
                        {"profiles": "resident-signing", "token_label": "x", "pin": "1234"}),
                       (f"/enrolments/{enrolment_b}/pickup-code", {}),
                       (f"/certificates/{serial_b}/revoke", {"reason": "keyCompromise"})):
        r = officer_a.client.post(path, data={"csrf_token": token, **data})
        assert r.status_code == 403, (path, r.status_code)
    assert f'href="/enrolments/{enrolment_b}"' not in officer_a.get("/enrolments").text
    assert "unieważniony" not in officer_b.get(f"/enrolments/{enrolment_b}").text


def test_officer_cannot_record_an_applicant_for_another_jst(web):
    ctx, _, _ = web
    before = _enrolment_count(ctx)
    r = visitor(web, "officer_a").post("/enrolments/new", {
        "kind": "resident", "organization_teryt": JST_B, "revocation_password": "x" * 10,
        **SECOND})
    assert r.status_code == 400 and _enrolment_count(ctx) == before


# -- residents ---------------------------------------------------------------------------------

def test_resident_downloads_pem_der_and_p7b_with_chain(web):
    ctx, _, _ = web
    officer = visitor(web, "officer_a")
    enrolment_id, code = _enrol(officer, JST_A)
    serial = _issue(officer, enrolment_id)
    resident = visitor(web)
    assert resident.pickup(code).headers["Location"] == "/my"
    page = resident.get("/my")
    assert serial in page.text and "ważny" in page.text
    pem = resident.get(f"/my/certificates/{serial}.pem")
    der = resident.get(f"/my/certificates/{serial}.der")
    p7b = resident.get(f"/my/certificates/{serial}.p7b")
    cert = x509.load_pem_x509_certificate(pem.data)
    assert x509.load_der_x509_certificate(der.data) == cert
    bundle = pkcs7.load_der_pkcs7_certificates(p7b.data)
    # a SET OF certificates (RFC 2315 §9.1): DER sorts it, so compare as sets
    assert set(bundle) == {cert, *ctx.chain()} and len(bundle) == 3


def test_pickup_code_replayed_after_delivering_a_certificate_fails(web):
    officer = visitor(web, "officer_a")
    enrolment_id, code = _enrol(officer, JST_A)
    serial = _issue(officer, enrolment_id)
    first = visitor(web)
    assert first.pickup(code).status_code == 302
    assert first.get(f"/my/certificates/{serial}.pem").status_code == 200
    again = visitor(web).pickup(code)
    assert again.status_code == 401 and "już użyty" in again.text
    assert visitor(web).pickup("AAAA-BBBB-CCCC-DDDD").status_code == 401


def test_resident_cannot_see_another_residents_certificate(web):
    officer = visitor(web, "officer_a")
    first, code1 = _enrol(officer, JST_A)
    second, _ = _enrol(officer, JST_A, SECOND)
    _issue(officer, first)
    other_serial = _issue(officer, second)
    resident = visitor(web)
    resident.pickup(code1)
    assert other_serial not in resident.get("/my").text
    for fmt in ("pem", "der", "p7b"):
        assert resident.get(f"/my/certificates/{other_serial}.{fmt}").status_code == 404
    r = resident.client.post(f"/my/certificates/{other_serial}/revoke",
                             data={"csrf_token": resident.csrf("/my"), "password": "x"})
    assert r.status_code == 404
    assert resident.get(f"/enrolments/{second}").status_code == 403
    assert resident.get("/audit").status_code == 403


def test_resident_revokes_with_the_revocation_password_only(web):
    officer = visitor(web, "officer_a")
    enrolment_id, code = _enrol(officer, JST_A, password="moje-haslo-123")
    serial = _issue(officer, enrolment_id)
    resident = visitor(web)
    resident.pickup(code)
    wrong = resident.post(f"/my/certificates/{serial}/revoke", {"password": "zle-haslo"},
                          form_page="/my")
    assert wrong.status_code == 401 and "ważny" in wrong.text
    ok = resident.post(f"/my/certificates/{serial}/revoke", {"password": "moje-haslo-123"},
                       form_page="/my")
    assert ok.status_code == 302 and "unieważniony" in resident.get("/my").text


# -- auditors and CSRF -------------------------------------------------------------------------

def test_auditor_cannot_change_anything(web):
    ctx, _, _ = web
    officer = visitor(web, "officer_a")
    enrolment_id, _ = _enrol(officer, JST_A)
    serial = _issue(officer, enrolment_id)
    auditor = visitor(web, "auditor")
    assert auditor.get(f"/enrolments/{enrolment_id}").status_code == 200
    token = auditor.csrf("/audit")  # the log-out form carries the session's CSRF token
    before = _enrolment_count(ctx)
    for path, data in (("/enrolments/new", {"kind": "resident", "organization_teryt": JST_A,
                                            **SECOND}),
                       (f"/enrolments/{enrolment_id}/csr",
                        {"profile": "resident-signing", "csr": (io.BytesIO(make_csr()), "r")}),
                       (f"/enrolments/{enrolment_id}/pickup-code", {}),
                       (f"/certificates/{serial}/revoke", {"reason": "keyCompromise"}),
                       ("/admin/organizations", {"teryt": "0809052", "name": "X"}),
                       ("/tokens/1/report/lost", {})):
        r = auditor.client.post(path, data={"csrf_token": token, **data})
        assert r.status_code == 403, path
    assert _enrolment_count(ctx) == before
    assert "ważny" in officer.get(f"/enrolments/{enrolment_id}").text


def test_forged_csrf_token_fails_and_changes_nothing(web):
    ctx, _, _ = web
    officer = visitor(web, "officer_a")
    before = _enrolment_count(ctx)
    data = {"kind": "resident", "organization_teryt": JST_A, "revocation_password": "x" * 9,
            **SECOND}
    forged = officer.client.post("/enrolments/new", data={**data, "csrf_token": "forged"})
    missing = officer.client.post("/enrolments/new", data=data)
    foreign = officer.client.post("/enrolments/new", data={
        **data, "csrf_token": visitor(web, "officer_b").csrf("/enrolments/new")})
    for r in (forged, missing, foreign):
        assert r.status_code == 400 and "CSRF" in r.text
    assert _enrolment_count(ctx) == before


def test_bad_pesel_is_named_on_the_page_and_nothing_is_recorded(web):
    ctx, _, _ = web
    before = _enrolment_count(ctx)
    r = visitor(web, "officer_a").post("/enrolments/new", {
        "kind": "resident", "organization_teryt": JST_A, "revocation_password": "x" * 9,
        **dict(SECOND, pesel="44051401358")})
    assert r.status_code == 400 and "pesel:" in r.text and 'role="alert"' in r.text
    assert _enrolment_count(ctx) == before


def test_pesel_is_masked_in_lists(web):
    officer = visitor(web, "officer_a")
    _enrol(officer, JST_A)
    page = officer.get("/enrolments").text
    assert RESIDENT["pesel"] not in page and "02*******24" in page


def test_auditor_filters_the_log_exports_csv_and_sees_the_chain_check(web):
    officer = visitor(web, "officer_a")
    enrolment_id, _ = _enrol(officer, JST_A)
    serial = _issue(officer, enrolment_id, "resident-authentication")
    auditor = visitor(web, "auditor")
    page = auditor.get("/audit?officer=officer_a&action=certificate.issue"
                       "&profile=resident-authentication")
    assert page.status_code == 200 and f"certificate:{serial}" in page.text
    assert "Łańcuch dziennika nienaruszony" in page.text
    other = auditor.get(f"/audit?teryt={JST_B}&action=certificate.issue").text
    assert f"certificate:{serial}" not in other
    rows = list(csv.DictReader(io.StringIO(auditor.get(
        "/audit.csv?officer=officer_a&profile=resident-authentication").text)))
    assert any(r["object"] == f"certificate:{serial}" and r["action"] == "certificate.issue"
               for r in rows)
    history = auditor.get(f"/audit/certificates/{serial}").text
    assert "certificate.issue" in history and "user:officer_a" in history


def test_english_switch_sets_the_language_and_lang_attribute(web):
    v = visitor(web)
    assert '<html lang="pl">' in v.get("/").text
    page = v.get("/?lang=en").text
    assert '<html lang="en">' in page and "Collect your certificate" in page
    assert '<html lang="en">' in v.get("/pickup").text


def test_staff_enrolment_issues_a_certificate_naming_the_jst(web):
    officer = visitor(web, "officer_a")
    r = officer.post("/enrolments/new", {"kind": "staff", "organization_teryt": JST_A,
                                         "given_name": "Jan", "surname": "Nowak",
                                         "title": "Inspektor", "email": "jan@example.pl"})
    assert r.status_code == 200, r.text
    enrolment_id = int(re.search(r'href="/enrolments/(\d+)"', r.text)[1])
    refused = officer.post(f"/enrolments/{enrolment_id}/csr",
                           {"profile": "resident-signing",
                            "csr": (io.BytesIO(make_csr()), "r.pem")},
                           form_page=f"/enrolments/{enrolment_id}")
    assert refused.status_code == 400  # a resident profile is not offered to staff
    r = officer.post(f"/enrolments/{enrolment_id}/csr",
                     {"profile": "staff-signing", "csr": (io.BytesIO(make_csr()), "r.pem")},
                     form_page=f"/enrolments/{enrolment_id}")
    pem = re.search(r"<pre class=\"wrap\">(.*?)</pre>", r.text, re.S)[1]
    cert = x509.load_pem_x509_certificate(pem.encode())
    org = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
    assert "Zielona Góra" in org


def test_administrator_adds_a_jst_and_an_officer_who_can_then_log_in(web):
    ctx, app, _ = web
    admin = visitor(web, "admin2")
    r = admin.post("/admin/organizations", {"teryt": "0809052", "name": "Gmina Świdnica"},
                   form_page="/admin")
    assert r.status_code in (302, 409)  # the demo may already serve it: a conflict
    r = admin.post("/admin/organizations", {"teryt": "0809056", "name": "Zła"},
                   form_page="/admin")
    assert r.status_code == 400 and "teryt" in r.text
    r = admin.post("/admin/users", {"username": "officer_new2", "role": "officer",
                                    "organizations": ["0809052"], "password": PASSWORD},
                   form_page="/admin")
    assert r.status_code == 302
    assert "officer_new2" in admin.get("/admin").text
    newcomer = Visitor(app, ctx)
    r = newcomer.post("/login", {"username": "officer_new2", "password": PASSWORD})
    assert r.headers["Location"] == "/login/totp-setup"
    assert visitor(web, "officer_a").get("/admin").status_code == 403


def test_language_switch_after_a_post_does_not_resend_the_form(web):
    officer = visitor(web, "officer_a")
    r = officer.post("/enrolments/new", {"kind": "resident", "organization_teryt": JST_A,
                                         "revocation_password": "x" * 9, **SECOND})
    switch = re.search(r'href="([^"]+)" lang="en"', r.text)[1]
    assert switch == "/?lang=en" and officer.get(switch).status_code == 200


def test_failed_login_of_an_unknown_name_is_audited_but_stores_no_state(web):
    ctx, _, _ = web
    from ca.store.models import AuditEvent, LoginState
    r = visitor(web).post("/login", {"username": "nobody_here", "password": "guess"})
    assert r.status_code == 401 and "Nieprawidłowa nazwa użytkownika lub hasło" in r.text
    with ctx.db.reading() as s:
        assert s.get(LoginState, "nobody_here") is None
        event = s.execute(select(AuditEvent).where(AuditEvent.object == "user:nobody_here")
                          ).scalars().one()
    assert (event.action, event.outcome) == ("login", "failure")


def test_a_totp_code_logs_in_only_once(web):
    ctx, app, secrets_ = web
    from webclient import next_totp
    code = next_totp(ctx, secrets_["officer_b"])
    first, second = Visitor(app, ctx), Visitor(app, ctx)
    for v in (first, second):
        assert v.post("/login", {"username": "officer_b", "password": PASSWORD}
                      ).status_code == 302
    assert first.post("/login/totp", {"code": code}).status_code == 302
    replay = second.post("/login/totp", {"code": code})
    assert replay.status_code == 401 and second.get("/enrolments").status_code == 302


def test_session_key_is_made_once_per_home_by_concurrent_workers(tmp_path):
    import multiprocessing as mp

    from enrollment_web.web import _secret_key
    with mp.get_context("fork").Pool(4) as pool:
        keys = pool.map(_secret_key, [tmp_path] * 8)
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    assert oct((tmp_path / "web-secret.key").stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["web-secret.key"]
