"""A resident without an officer, through the composed WSGI app on SQLite and PostgreSQL: the
pickup code survives use before issuance and is spent by delivering a certificate; the resident
comes back the next day with code and revocation password; the public revoke page proves the
holder by serial and password, confirms, records the reason chosen in Polish as its RFC 5280
code (OCSP reports it), backs guessing off, and answers an unknown serial as a wrong password."""

from __future__ import annotations

import re

import pytest
from conftest import RESIDENT, make_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from webclient import Visitor, add_staff, issue_from_csr, record_enrolment

from ca.store import certificates as cert_store
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm

JST = "0862011"
PASSWORD = "haslo-do-uniewaznienia"
_CSRF_VALUE = re.compile(r'(name="(?:(?:[a-z]+-)?csrf_token" type="hidden"|form_key") '
                         r'value=")[^"]+"')


@pytest.fixture(scope="module")
def web(home_ctx):
    ctx = home_ctx
    secret = add_staff(ctx, "officer_h", "officer", [JST])
    return ctx, create_app(ctx.settings.home, ctx), secret


def _officer(web) -> Visitor:
    ctx, app, secret = web
    return Visitor(app, ctx).login("officer_h", secret)


def _visitor(web, address: str) -> Visitor:
    """A visitor from ``address``, so each test's guesses are counted apart."""
    ctx, app, _ = web

    def from_address(environ, start_response):
        environ["REMOTE_ADDR"] = address
        return app(environ, start_response)
    return Visitor(from_address, ctx)


def _enrol(officer: Visitor) -> tuple[int, str]:
    return record_enrolment(officer, {"kind": "resident", "organization_teryt": JST,
                                      "revocation_password": PASSWORD, **RESIDENT})


def _issue(officer: Visitor, enrolment_id: int, profile: str = "resident-signing") -> str:
    return issue_from_csr(officer, enrolment_id, make_csr(), profile)


def _ocsp(v: Visitor, ctx, serial: str) -> ocsp.OCSPResponse:
    with ctx.db.reading() as s:
        row = cert_store.get(s, serial)
    cert = x509.load_der_x509_certificate(cert_store.der_of(ctx.fields, serial, row.der))
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, ctx.chain()[0], hashes.SHA1()).build()
    r = v.client.post("/ocsp", data=req.public_bytes(Encoding.DER),
                      headers={"Content-Type": "application/ocsp-request"})
    assert r.status_code == 200
    return ocsp.load_der_ocsp_response(r.data)


def _same_page(text: str, typed: str) -> str:
    """The page less what differs by right: its CSRF token, its form's idempotency key and
    the value typed back."""
    return _CSRF_VALUE.sub(r"\1x", text).replace(typed, "TYPED")


def _revoke_form(v: Visitor, serial: str, password: str, reason: str = "keyCompromise"):
    return v.post("/revoke", {"serial": serial, "password": password, "reason": reason})


# -- the pickup code ---------------------------------------------------------------------------

def test_pickup_code_used_before_issuance_still_works_and_is_spent_by_delivery(web):
    officer = _officer(web)
    enrolment_id, code = _enrol(officer)
    early = _visitor(web, "10.1.0.1")
    assert early.pickup(code).headers["Location"] == "/my"
    assert "nie został jeszcze wydany" in early.get("/my").text
    serial = _issue(officer, enrolment_id)
    later = _visitor(web, "10.1.0.1")
    assert later.pickup(code).headers["Location"] == "/my"
    assert serial in later.get("/my").text
    assert officer.get(f"/enrolments/{enrolment_id}").text.split(
        'id="pickup-state">')[1].startswith("nieużyty")
    pem = later.get(f"/my/certificates/{serial}.pem")
    assert x509.load_pem_x509_certificate(pem.data).serial_number == int(serial, 16)
    spent = _visitor(web, "10.1.0.1").pickup(code)
    assert spent.status_code == 401 and "już użyty" in spent.text


# -- coming back -------------------------------------------------------------------------------

def test_resident_comes_back_the_next_day_downloads_and_revokes(web):
    ctx, _, _ = web
    officer = _officer(web)
    enrolment_id, code = _enrol(officer)
    serial = _issue(officer, enrolment_id)
    first = _visitor(web, "10.2.0.1")
    first.pickup(code)
    assert first.get(f"/my/certificates/{serial}.der").status_code == 200
    first.post("/my/logout", form_page="/my")
    ctx.clock.advance(days=1)
    resident = _visitor(web, "10.2.0.1")
    assert resident.pickup(code).status_code == 401  # the code alone has done its job
    back = resident.post("/return", {"code": code.lower(), "password": PASSWORD})
    assert back.status_code == 303 and back.headers["Location"] == "/my"
    der = resident.get(f"/my/certificates/{serial}.der")
    assert x509.load_der_x509_certificate(der.data).serial_number == int(serial, 16)
    revoked = resident.post(f"/my/certificates/{serial}/revoke", {"password": PASSWORD})
    assert revoked.status_code == 303
    assert _ocsp(resident, ctx, serial).certificate_status == ocsp.OCSPCertStatus.REVOKED


def test_return_refuses_a_wrong_password_and_an_unknown_code_alike(web):
    officer = _officer(web)
    enrolment_id, code = _enrol(officer)
    wrong = _visitor(web, "10.3.0.1").post("/return", {"code": code, "password": "nie-to-haslo"})
    unknown = _visitor(web, "10.3.0.2").post("/return", {"code": "AAAA-BBBB-CCCC-DDDD",
                                                         "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert _same_page(wrong.text, code) == _same_page(unknown.text, "AAAA-BBBB-CCCC-DDDD")
    assert "resident_enrolment" not in str(wrong.headers.get("Set-Cookie"))


# -- the public revoke page --------------------------------------------------------------------

def test_public_page_revokes_after_confirmation_with_the_reason_chosen_in_polish(web):
    ctx, _, _ = web
    serial = _issue(_officer(web), _enrol(_officer(web))[0])
    v = _visitor(web, "10.4.0.1")
    page = v.get("/revoke")
    assert "utrata lub kompromitacja klucza" in page.text and "zmiana danych" in page.text
    step = _revoke_form(v, serial, PASSWORD, "affiliationChanged")
    assert step.status_code == 303 and step.headers["Location"] == "/revoke/confirm"
    confirm = v.get("/revoke/confirm")
    assert serial in confirm.text and "zmiana danych" in confirm.text
    assert "nie da się tego cofnąć" in confirm.text
    assert _ocsp(v, ctx, serial).certificate_status == ocsp.OCSPCertStatus.GOOD  # not yet
    done = v.post("/revoke/confirm", form_page="/revoke/confirm")
    assert done.status_code == 303 and done.headers["Location"].startswith("/revoke/done?done=")
    assert serial in v.get(done.headers["Location"]).text
    answer = _ocsp(v, ctx, serial)
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.affiliation_changed


def test_public_page_refuses_a_wrong_password_and_backs_off(web):
    ctx, _, _ = web
    serial = _issue(_officer(web), _enrol(_officer(web))[0])
    v = _visitor(web, "10.5.0.1")
    statuses = [_revoke_form(v, serial, "zle-haslo-123").status_code for _ in range(5)]
    assert statuses[:3] == [401, 401, 401] and statuses[-1] == 429
    backed_off = _revoke_form(v, serial, PASSWORD)  # even the right one waits its turn
    assert backed_off.status_code == 429 and int(backed_off.headers["Retry-After"]) >= 1
    assert v.get("/revoke/confirm").headers["Location"] == "/revoke"
    assert _ocsp(v, ctx, serial).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_public_page_answers_an_unknown_serial_as_a_wrong_password(web):
    serial = _issue(_officer(web), _enrol(_officer(web))[0])
    unknown_serial = format(int(serial, 16) ^ 0xFFFF, "x")
    wrong, unknown = _visitor(web, "10.6.0.1"), _visitor(web, "10.6.0.2")
    for _ in range(4):
        a = _revoke_form(wrong, serial, "zle-haslo-123")
        b = _revoke_form(unknown, unknown_serial, PASSWORD)
        assert a.status_code == b.status_code
        assert _same_page(a.text, serial) == _same_page(b.text, unknown_serial)
    assert a.status_code == 429


def test_public_page_does_not_revoke_a_staff_certificate_with_any_password(web):
    officer = _officer(web)
    enrolment_id, _ = record_enrolment(officer, {"kind": "staff", "organization_teryt": JST,
                                                 "given_name": "Jan", "surname": "Nowak"})
    serial = _issue(officer, enrolment_id, "staff-signing")
    assert _revoke_form(_visitor(web, "10.7.0.1"), serial, "").status_code == 400
    assert _revoke_form(_visitor(web, "10.7.0.2"), serial, PASSWORD).status_code == 401


def test_public_page_names_a_malformed_serial_and_a_missing_reason(web):
    v = _visitor(web, "10.8.0.1")
    bad = _revoke_form(v, "nie-numer", PASSWORD)
    assert bad.status_code == 400 and "szesnastkowa" in bad.text
    no_reason = v.post("/revoke", {"serial": "abcdef", "password": PASSWORD})
    assert no_reason.status_code == 400 and "Wybierz powód" in no_reason.text


def test_confirmation_lapses_after_ten_minutes(web):
    ctx, _, _ = web
    serial = _issue(_officer(web), _enrol(_officer(web))[0])
    v = _visitor(web, "10.9.0.1")
    assert _revoke_form(v, serial, PASSWORD).status_code == 303
    ctx.clock.advance(minutes=11)
    assert v.get("/revoke/confirm").headers["Location"] == "/revoke"
    assert _ocsp(v, ctx, serial).certificate_status == ocsp.OCSPCertStatus.GOOD


# -- double submission (issue 18): the same rendered form twice acts once -------------------------

def _events(ctx, action: str, obj: str) -> int:
    from sqlalchemy import func, select

    from ca.store.models import AuditEvent
    with ctx.db.reading() as s:
        return s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.object == obj)).scalar_one()


def _twice(v: Visitor, path: str, data: dict, form_page: str) -> str:
    """The same rendered form sent twice from one browser (a double click: the second request
    carries the cookie the first one had; the browser keeps the cookie the first answer set
    where the second sets none)."""
    tokens = v.form_tokens(form_page)
    before = v.client.get_cookie("session").value
    first = v.client.post(path, data={**tokens, **data})
    after = v.client.get_cookie("session").value
    v.client.set_cookie("session", before)
    second = v.client.post(path, data={**tokens, **data})
    if "Set-Cookie" not in second.headers:
        v.client.set_cookie("session", after)
    assert first.status_code in (302, 303) and second.status_code == 303, second.text
    assert first.headers["Location"] == second.headers["Location"]
    return first.headers["Location"]


def test_coming_back_with_a_double_click_opens_one_session_and_audits_it_once(web):
    ctx, _, _ = web
    enrolment_id, code = _enrol(_officer(web))
    v = _visitor(web, "10.10.0.1")
    result = _twice(v, "/return", {"code": code, "password": PASSWORD}, "/return")
    assert result == "/my" and v.get(result).status_code == 200
    assert v.get(result).status_code == 200  # a reload of the result opens nothing again
    assert _events(ctx, "resident.return", f"enrolment:{enrolment_id}") == 1


def test_public_revocation_confirmed_twice_revokes_once_and_shows_the_same_result(web):
    ctx, _, _ = web
    serial = _issue(_officer(web), _enrol(_officer(web))[0])
    v = _visitor(web, "10.11.0.1")
    assert _revoke_form(v, serial, PASSWORD, "superseded").status_code == 303
    result = _twice(v, "/revoke/confirm", {}, "/revoke/confirm")
    assert result.startswith("/revoke/done?done=")
    page = v.get(result)
    assert page.status_code == 200 and serial in page.text
    assert v.get(result).text == page.text  # a reload shows the same, revokes nothing
    assert _events(ctx, "certificate.revoke", f"certificate:{serial}") == 1
    assert _ocsp(v, ctx, serial).revocation_reason == x509.ReasonFlags.superseded


def test_a_public_form_key_is_the_visitors_own(web):
    """Another browser cannot replay a visitor's submission, nor learn where it led."""
    ctx, _, _ = web
    _, code = _enrol(_officer(web))
    v, other = _visitor(web, "10.12.0.1"), _visitor(web, "10.12.0.2")
    tokens = v.form_tokens("/return")
    assert v.client.post("/return", data={**tokens, "code": code, "password": PASSWORD}
                         ).status_code == 303
    replay = other.client.post("/return", data={
        **tokens, "csrf_token": other.csrf("/return"), "code": code, "password": PASSWORD})
    assert replay.status_code == 409 and "Location" not in replay.headers


def test_a_pickup_code_sent_twice_with_a_double_click_is_redeemed_once(web):
    ctx, _, _ = web
    enrolment_id, code = _enrol(_officer(web))
    v = _visitor(web, "10.13.0.1")
    result = _twice(v, "/pickup", {"code": code}, "/pickup")
    assert result == "/my" and v.get(result).status_code == 200
    assert v.get(result).status_code == 200  # a reload of the result redeems nothing again
    assert _events(ctx, "pickup.redeem", f"enrolment:{enrolment_id}") == 1
