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
    """Record an applicant (the same person again when a test needs it: the duplicate-person
    warning is confirmed) and follow the redirect to the result page."""
    r = v.post("/enrolments/new", {"kind": "resident", "organization_teryt": teryt,
                                   "revocation_password": password, "confirm_duplicate": "y",
                                   **subject})
    assert r.status_code == 303, r.text
    r = v.get(r.headers["Location"])
    enrolment_id = int(re.search(r'href="/enrolments/(\d+)"', r.text)[1])
    return enrolment_id, pickup_code(r.text)


def _issue(v: Visitor, enrolment_id: int, profile="resident-signing") -> str:
    r = v.post(f"/enrolments/{enrolment_id}/csr",
               {"profile": profile, "csr": (io.BytesIO(make_csr()), "req.pem")},
               form_page=f"/enrolments/{enrolment_id}")
    assert r.status_code == 303, r.text
    r = v.get(r.headers["Location"])
    return re.search(r'<ul id="issued"><li><strong>[^<]+</strong>: <code class="wrap">'
                     r'([0-9a-f]+)</code>', r.text)[1]


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
    # any form of A's session carries A's CSRF token and a form key A may use
    tokens = officer_a.form_tokens("/enrolments/new")
    assert officer_a.get(f"/enrolments/{enrolment_b}").status_code == 403
    for path, data in ((f"/enrolments/{enrolment_b}/csr",
                        {"profile": "resident-signing",
                         "csr": (io.BytesIO(make_csr()), "r.pem")}),
                       (f"/enrolments/{enrolment_b}/token",
                        {"profiles": "resident-signing", "token_label": "x", "pin": "1234"}),
                       (f"/enrolments/{enrolment_b}/pickup-code", {}),
                       (f"/certificates/{serial_b}/revoke", {"reason": "keyCompromise"})):
        r = officer_a.client.post(path, data={**tokens, **data})
        assert r.status_code == 403, (path, r.status_code)
    assert officer_a.get(f"/certificates/{serial_b}/revoke").status_code == 403
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
    own_serial = _issue(officer, first)
    other_serial = _issue(officer, second)
    resident = visitor(web)
    resident.pickup(code1)
    assert other_serial not in resident.get("/my").text
    for fmt in ("pem", "der", "p7b"):
        assert resident.get(f"/my/certificates/{other_serial}.{fmt}").status_code == 404
    r = resident.client.post(f"/my/certificates/{other_serial}/revoke",
                             data={**resident.form_tokens(f"/my/certificates/{own_serial}/revoke"),
                                   "password": "x"})
    assert r.status_code == 404
    assert resident.get(f"/my/certificates/{other_serial}/revoke").status_code == 404
    assert resident.get(f"/enrolments/{second}").status_code == 403
    assert resident.get("/audit").status_code == 403


def test_resident_revokes_with_the_revocation_password_only(web):
    officer = visitor(web, "officer_a")
    enrolment_id, code = _enrol(officer, JST_A, password="moje-haslo-123")
    serial = _issue(officer, enrolment_id)
    resident = visitor(web)
    resident.pickup(code)
    confirm = resident.get(f"/my/certificates/{serial}/revoke")
    assert confirm.status_code == 200 and "nie można cofnąć" in confirm.text
    wrong = resident.post(f"/my/certificates/{serial}/revoke", {"password": "zle-haslo"})
    assert wrong.status_code == 401 and "Nieprawidłowe hasło do unieważnienia" in wrong.text
    assert 'aria-describedby="password-hint password-error"' in wrong.text
    assert "ważny" in resident.get("/my").text
    ok = resident.post(f"/my/certificates/{serial}/revoke", {"password": "moje-haslo-123"})
    assert ok.status_code == 303
    page = resident.get(ok.headers["Location"]).text
    assert "unieważniony" in page and f"Certyfikat {serial} został unieważniony" in page


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


def test_bad_pesel_is_said_in_polish_next_to_its_field_and_nothing_is_recorded(web):
    ctx, _, _ = web
    before = _enrolment_count(ctx)
    r = visitor(web, "officer_a").post("/enrolments/new", {
        "kind": "resident", "organization_teryt": JST_A, "revocation_password": "x" * 9,
        **dict(SECOND, pesel="44051401358")})
    assert r.status_code == 400 and 'role="alert"' in r.text
    field = re.search(r'<input[^>]*id="pesel"[^>]*>', r.text)[0]
    assert 'aria-describedby="pesel-hint pesel-error"' in field
    assert 'aria-invalid="true"' in field and "autofocus" in field
    error = re.search(r'<p class="error" id="pesel-error">(.*?)</p>', r.text, re.S)[1]
    assert "PESEL jest nieprawidłowy" in error and "checksum" not in r.text
    assert "is not valid" not in r.text and "pesel:" not in r.text
    assert _enrolment_count(ctx) == before


def test_missing_name_is_said_in_polish_not_in_wtforms_english(web):
    r = visitor(web, "officer_a").post("/enrolments/new", {
        "kind": "resident", "organization_teryt": JST_A, "given_name": "", "surname": "",
        "pesel": "44051401359"})
    assert r.status_code == 400 and "This field is required" not in r.text
    assert re.search(r'id="given_name-error">.*Podaj imię\.', r.text)
    first = re.search(r'<input[^>]*autofocus[^>]*>', r.text)[0]
    assert 'id="given_name"' in first  # the first field in error, not the later ones


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
    body = auditor.get("/audit.csv?officer=officer_a&profile=resident-authentication").data
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert any(r["object"] == f"certificate:{serial}" and r["action"] == "certificate.issue"
               for r in rows)
    history = auditor.get(f"/audit/certificates/{serial}").text
    assert "wydanie certyfikatu" in history and "user:officer_a" in history


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
    assert r.status_code == 303, r.text
    r = officer.get(r.headers["Location"])
    enrolment_id = int(re.search(r'href="/enrolments/(\d+)"', r.text)[1])
    refused = officer.post(f"/enrolments/{enrolment_id}/csr",
                           {"profile": "resident-signing",
                            "csr": (io.BytesIO(make_csr()), "r.pem")},
                           form_page=f"/enrolments/{enrolment_id}")
    assert refused.status_code == 400  # a resident profile is not offered to staff
    r = officer.post(f"/enrolments/{enrolment_id}/csr",
                     {"profile": "staff-signing", "csr": (io.BytesIO(make_csr()), "r.pem")},
                     form_page=f"/enrolments/{enrolment_id}")
    r = officer.get(r.headers["Location"])
    pem = re.search(r"<pre class=\"wrap\">(.*?)</pre>", r.text, re.S)[1]
    cert = x509.load_pem_x509_certificate(pem.encode())
    org = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
    assert "Zielona Góra" in org


def test_administrator_adds_a_jst_and_an_officer_who_can_then_log_in(web):
    ctx, app, _ = web
    admin = visitor(web, "admin2")
    r = admin.post("/admin/organizations", {"teryt": "0809052", "name": "Gmina Świdnica"},
                   form_page="/admin")
    assert r.status_code in (303, 409)  # the demo may already serve it: a conflict
    r = admin.post("/admin/organizations", {"teryt": "0809056", "name": "Zła"},
                   form_page="/admin")
    assert r.status_code == 400 and "teryt" in r.text
    r = admin.post("/admin/users", {"username": "officer_new2", "role": "officer",
                                    "organizations": ["0809052"], "password": PASSWORD},
                   form_page="/admin")
    assert r.status_code == 303
    assert "officer_new2" in admin.get("/admin").text
    newcomer = Visitor(app, ctx)
    r = newcomer.post("/login", {"username": "officer_new2", "password": PASSWORD})
    assert r.headers["Location"] == "/login/totp-setup"
    assert visitor(web, "officer_a").get("/admin").status_code == 403


def test_language_switch_after_a_post_does_not_resend_the_form(web):
    officer = visitor(web, "officer_a")
    r = officer.post("/enrolments/new", {"kind": "resident", "organization_teryt": JST_A,
                                         "revocation_password": "x" * 9,
                                         **dict(SECOND, pesel="44051401358")})
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


# -- a full day at the desk (issue 18) ---------------------------------------------------------

def test_a_resubmitted_form_shows_the_first_result_and_records_nothing_more(web):
    ctx, _, _ = web
    officer = visitor(web, "officer_a")
    tokens = officer.form_tokens("/enrolments/new")
    data = {"kind": "resident", "organization_teryt": JST_A, "revocation_password": "x" * 9,
            "confirm_duplicate": "y", **tokens, **SECOND}
    before = _enrolment_count(ctx)
    first = officer.client.post("/enrolments/new", data=data)
    again = officer.client.post("/enrolments/new", data=data)  # a reload, a second click
    assert first.status_code == again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"]
    assert _enrolment_count(ctx) == before + 1
    # the result page shows the same pickup code on reload: the one that works
    page = officer.get(first.headers["Location"]).text
    assert pickup_code(page) == pickup_code(officer.get(first.headers["Location"]).text)
    assert "Wniosek zapisany." in page
    # another officer cannot replay it, nor read its result
    other = visitor(web, "officer_b")
    stolen = other.client.post("/enrolments/new", data={
        **data, "csrf_token": other.csrf("/enrolments/new")})
    assert stolen.status_code == 409 and _enrolment_count(ctx) == before + 1


def test_a_form_key_this_site_did_not_render_is_refused(web):
    ctx, _, _ = web
    officer = visitor(web, "officer_a")
    before = _enrolment_count(ctx)
    tokens = officer.form_tokens("/enrolments/new")
    for key in ("made-up", tokens["form_key"][:-2] + "xx", ""):
        r = officer.client.post("/enrolments/new", data={
            "kind": "resident", "organization_teryt": JST_A, "revocation_password": "x" * 9,
            "confirm_duplicate": "y", **SECOND, **tokens, "form_key": key})
        assert r.status_code == 400 and "nieaktualny" in r.text
    assert _enrolment_count(ctx) == before


def test_a_pesel_with_an_enrolment_is_warned_about_before_a_second_is_recorded(web):
    ctx, _, _ = web
    officer = visitor(web, "officer_a")
    person = {"given_name": "Ewa", "surname": "Duplikat", "pesel": "90090515836"}
    first, _ = _enrol(officer, JST_A, person)
    before = _enrolment_count(ctx)
    data = {"kind": "resident", "organization_teryt": JST_A, "revocation_password": "x" * 9,
            **person}
    warned = officer.post("/enrolments/new", data)
    assert warned.status_code == 200 and 'id="duplicate-warning"' in warned.text
    assert "Ten PESEL ma już 1 wniosek:" in warned.text
    assert f'href="/enrolments/{first}"' in warned.text
    assert _enrolment_count(ctx) == before
    # another JST's officer sees no warning about it: the enrolment is not in their scope
    other = visitor(web, "officer_b").post("/enrolments/new", {
        **data, "organization_teryt": JST_B})
    assert other.status_code == 303
    confirmed = officer.post("/enrolments/new", {**data, "confirm_duplicate": "y"})
    assert confirmed.status_code == 303 and _enrolment_count(ctx) == before + 2


def test_search_finds_by_pesel_serial_and_name_within_the_officers_jst(web):
    officer = visitor(web, "officer_a")
    person = {"given_name": "Zofia", "surname": "Szukana", "pesel": "85121209875"}
    enrolment_id, _ = _enrol(officer, JST_A, person)
    serial = _issue(officer, enrolment_id)
    link = f'href="/enrolments/{enrolment_id}"'
    # the serial and "0" + serial: one of them is an odd number of hex digits, whichever it is
    for q in (person["pesel"], serial, "0" + serial, serial.upper(), "szukana",
              "Zofia Szukana"):
        page = officer.get("/enrolments", query_string={"q": q}).text
        assert link in page, q
        assert re.search(r'id="total">1 wniosek pasujących', page), q
    assert link not in officer.get("/enrolments", query_string={"q": "85121209868"}).text
    bad = officer.get("/enrolments", query_string={"q": "85121209870"})
    assert bad.status_code == 400 and 'id="q-error"' in bad.text
    assert "PESEL jest nieprawidłowy" in bad.text
    assert link not in visitor(web, "officer_b").get(
        "/enrolments", query_string={"q": person["pesel"]}).text


def test_lists_are_paged_with_their_totals(web):
    ctx, _, _ = web
    from ra import enrolment as enrol
    officer = visitor(web, "officer_a")
    for _ in range(3):
        _enrol(officer, JST_A)
    total = enrol.search(ctx_reader(web), (JST_A,), "").total
    first = enrol.search(ctx_reader(web), (JST_A,), "", page=1, size=2)
    last = enrol.search(ctx_reader(web), (JST_A,), "", page=first.pages, size=2)
    assert first.total == last.total == total and len(first.items) == 2
    assert first.pages == -(-total // 2) and len(last.items) == total - 2 * (first.pages - 1)
    assert not {e.id for e in first.items} & {e.id for e in last.items}
    page = officer.get("/enrolments").text
    assert re.search(rf'id="total">{total} wnios\w*: pozycje 1–{min(total, 50)} z {total}',
                     page)
    assert "tokeny" in officer.get("/tokens").text.lower()


def test_certificates_are_listed_a_page_at_a_time_as_each_caller_may_see_them(web):
    from ra import certificates
    from ra.access import Caller
    officer_a, officer_b = visitor(web, "officer_a"), visitor(web, "officer_b")
    serial_a = _issue(officer_a, _enrol(officer_a, JST_A)[0])
    serial_b = _issue(officer_b, _enrol(officer_b, JST_B, SECOND)[0])
    reader = ctx_reader(web)
    mine = certificates.listed(reader, Caller.officer("officer_a", (JST_A,)), size=1000)
    everyone = certificates.listed(reader, Caller.auditor("auditor"), size=1000)
    assert serial_a in {c.serial for c in mine.items}
    assert serial_b not in {c.serial for c in mine.items}
    assert {serial_a, serial_b} <= {c.serial for c in everyone.items}
    assert mine.total == len(mine.items) < everyone.total == len(everyone.items)
    first = certificates.listed(reader, Caller.auditor("auditor"), page=1, size=2)
    assert len(first.items) == 2 and first.total == everyone.total
    page = officer_a.get("/certificates").text
    assert serial_a in page and serial_b not in page
    assert re.search(rf'id="total">{mine.total} certyfikat', page)
    assert serial_b in visitor(web, "auditor").get("/certificates?page=1").text


def ctx_reader(web):
    from regca.roles import registration_authority
    return registration_authority(web[0])


def test_revoking_asks_first_with_reasons_in_polish_and_happens_once(web):
    ctx, _, _ = web
    officer = visitor(web, "officer_a")
    enrolment_id, _ = _enrol(officer, JST_A)
    serial = _issue(officer, enrolment_id)
    detail = officer.get(f"/enrolments/{enrolment_id}").text
    assert f'href="/certificates/{serial}/revoke"' in detail and "keyCompromise" not in detail
    confirm = officer.get(f"/certificates/{serial}/revoke").text
    for reason in ("utrata lub kompromitacja klucza", "zmiana danych", "zastąpiony nowym",
                   "zaprzestanie działalności"):
        assert reason in confirm
    assert "nie można cofnąć" in confirm and "keyCompromise</option>" not in confirm
    none = officer.post(f"/certificates/{serial}/revoke", {"reason": ""})
    assert none.status_code == 400 and 'id="reason-error"' in none.text
    assert "ważny" in officer.get(f"/enrolments/{enrolment_id}").text
    tokens = officer.form_tokens(f"/certificates/{serial}/revoke")
    done = officer.client.post(f"/certificates/{serial}/revoke",
                               data={**tokens, "reason": "affiliationChanged"})
    again = officer.client.post(f"/certificates/{serial}/revoke",
                                data={**tokens, "reason": "affiliationChanged"})
    assert done.status_code == again.status_code == 303
    page = officer.get(done.headers["Location"]).text
    assert "unieważniony (zmiana danych)" in page and "został unieważniony" in page
    with ctx.db.reading() as s:
        from ca.store.models import AuditEvent
        revocations = s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "certificate.revoke",
            AuditEvent.object == f"certificate:{serial}")).scalar_one()
    assert revocations == 1


def test_auditor_exports_csv_for_polish_excel_and_json_in_warsaw_time(web):
    import datetime as dt
    import json
    from zoneinfo import ZoneInfo
    ctx, _, _ = web
    officer = visitor(web, "officer_a")
    enrolment_id, _ = _enrol(officer, JST_A)
    serial = _issue(officer, enrolment_id)
    auditor = visitor(web, "auditor")
    body = auditor.get("/audit.csv?action=certificate.issue").data
    assert body.startswith(b"\xef\xbb\xbf")
    header, *lines = body[3:].decode("utf-8").splitlines()
    assert header.split(";")[:4] == ["seq", "at", "actor", "action"]
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    row = next(r for r in rows if r["object"] == f"certificate:{serial}")
    at = dt.datetime.fromisoformat(row["at"])
    warsaw = at.astimezone(ZoneInfo("Europe/Warsaw"))
    assert at.utcoffset() == warsaw.utcoffset() and at.utcoffset() in (
        dt.timedelta(hours=1), dt.timedelta(hours=2))
    # the page shows the same local time, and the event by its Polish name
    page = auditor.get("/audit?action=certificate.issue").text
    assert warsaw.strftime("%Y-%m-%d %H:%M:%S") in page and "wydanie certyfikatu" in page
    events = json.loads(auditor.get("/audit.json?action=certificate.issue").data)
    assert any(e["object"] == f"certificate:{serial}" and e["at"] == row["at"]
               for e in events)
    assert len(events) == len(rows)  # an export is never cut to a page


def test_auditor_picks_event_kinds_by_polish_name_and_pages_show_totals(web):
    auditor = visitor(web, "auditor")
    page = auditor.get("/audit").text
    select_ = re.search(r'<select[^>]*id="action".*?</select>', page, re.S)[0]
    assert '<option value="certificate.revoke">unieważnienie certyfikatu</option>' in select_
    assert re.search(r'id="total">\d+ zdarze', page)
    for query, field in (("action=no.such.event", "action"), ("since=nie-data", "since")):
        r = auditor.get(f"/audit?{query}")
        assert r.status_code == 400 and f'id="{field}-error"' in r.text
        assert "Not a valid" not in r.text  # WTForms' own words, in Polish here


def test_polish_plural_forms_come_from_the_compiled_catalogue(web):
    _, app, _ = web
    from enrollment_web.i18n import ngettext
    with app.fallback.test_request_context("/"):
        said = [ngettext("%(num)d event", "%(num)d events", n) for n in (1, 2, 5, 12, 22, 25)]
    assert said == ["1 zdarzenie", "2 zdarzenia", "5 zdarzeń", "12 zdarzeń", "22 zdarzenia",
                    "25 zdarzeń"]
    with app.fallback.test_request_context("/?lang=en"):
        from flask import session
        session["lang"] = "en"
        assert ngettext("%(num)d event", "%(num)d events", 1) == "1 event"


def test_every_page_links_the_accessibility_statement_cp_cps_and_rodo_clause(web):
    pages = {"/deklaracja-dostepnosci": ("Status pod względem zgodności z ustawą",
                                         "Przygotowanie deklaracji dostępności",
                                         "Informacje zwrotne i dane kontaktowe",
                                         "Obsługa wniosków i skarg",
                                         "Rzecznika Praw Obywatelskich",
                                         "Dostępność architektoniczna", "Aplikacje mobilne",
                                         "ustawy z dnia 4 kwietnia 2019"),
             "/polityka-certyfikacji": ('lang="en"', "Certificate Policy",
                                        "1.3.6.1.4.1.99999.616.1"),
             "/rodo": ("art. 13", "Administratorem", "Prezesa Urzędu Ochrony Danych Osobowych",
                       "inspektorem ochrony danych")}
    v = visitor(web)
    for path, needles in pages.items():
        r = v.get(path)
        assert r.status_code == 200, path
        for needle in needles:
            assert needle in r.text, (path, needle)
    for path in ("/", "/pickup", "/login", *pages):
        text = v.get(path).text
        for link in pages:
            assert f'href="{link}"' in text, (path, link)


def test_certificate_history_shows_no_pesel(web):
    officer = visitor(web, "officer_a")
    enrolment_id, _ = _enrol(officer, JST_A)
    serial = _issue(officer, enrolment_id)
    page = visitor(web, "auditor").get(f"/audit/certificates/{serial}").text
    assert RESIDENT["pesel"] not in page and "02*******24" in page


def test_the_operator_settings_refuse_an_unknown_or_non_text_field():
    from ca.errors import ConfigurationError
    from enrollment_web.legal import Operator
    assert Operator({"name": "Urząd Marszałkowski"}).name == "Urząd Marszałkowski"
    with pytest.raises(ConfigurationError, match="enrollment.operator.nmae"):
        Operator({"nmae": "Urząd"})
    with pytest.raises(ConfigurationError, match="enrollment.operator.phone: must be a string"):
        Operator({"phone": 680000000})


def test_the_event_log_is_paged_and_its_exports_are_never_cut(web):
    ctx, _, _ = web
    from ca.audit import Event
    from ca.store import audit as audit_store
    n = 620  # past the 500 rows the page and the CSV used to stop at
    with ctx.db.transaction() as s:
        audit_store.append_many(s, [(ctx.now(), Event(actor="user:bulk_clerk", action="login",
                                                     object="user:bulk_clerk"))
                                    for _ in range(n)])
    auditor = visitor(web, "auditor")
    page = auditor.get("/audit?officer=bulk_clerk").text
    assert re.search(rf'id="total">{n} zdarzeń[^:<]*: pozycje 1–50 z {n}', page)
    assert 'href="/audit?officer=bulk_clerk&amp;page=13"' in page
    last = auditor.get("/audit?officer=bulk_clerk&page=13").text
    assert re.search(rf'id="total">{n} zdarzeń[^:<]*: pozycje 601–{n} z {n}', last)
    body = auditor.get("/audit.csv?officer=bulk_clerk").data.decode("utf-8-sig")
    assert len(list(csv.DictReader(io.StringIO(body), delimiter=";"))) == n
    import json
    assert len(json.loads(auditor.get("/audit.json?officer=bulk_clerk").data)) == n
