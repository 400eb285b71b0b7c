"""The resident's days and the auditor's, in a real browser (Debian's Chromium driven by
Playwright), in Polish. Day 1: a wrong pickup code, then the right one; the certificate
downloaded as PEM, DER and P7B, and its transparency inclusion proof, each read by
`cryptography` or checked against RFC 9162. Day 2 (the pinned clock a day on, long past the
30-minute session): the resident comes back with the code and the revocation password, is
backed off after wrong passwords, and revokes one certificate on the public page; a double
click and reloads revoke nothing twice, and OCSP reports the reason chosen in Polish. The
auditor filters by a Polish event name and by dates, pages through, exports CSV and JSON:
the revocation is there, the PESEL nowhere. Every page passes check_page (axe-core, no
sideways scroll at 375 and 320 px); every error is Polish and bound to its field."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
import rfc9162
from browser_kit import (
    check_page,
    click_twice,
    download,
    field_error,
    launch_browser,
    login,
    new_page,
    ocsp_answer,
    serve_site,
)
from conftest import RESIDENT, make_csr
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from sqlalchemy import select
from webclient import Visitor, add_staff, issue_from_csr, record_enrolment

from ca.months import WARSAW
from ca.store import certificates as cert_store
from ca.store.models import ApiKey, AuditEvent
from regca.roles import head_signer

pytestmark = [pytest.mark.browser, pytest.mark.hsm]

JST = "0862011"
REVOCATION_PASSWORD = "haslo-mieszkanki-2026"
ENGLISH = re.compile(r"\b(the|is|required|field|invalid|not|password|error)\b", re.I)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    yield from serve_site(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


@pytest.fixture(scope="module")
def resident(site):
    """Zofia's enrolment at the office, with a signing and an authentication certificate
    issued from CSRs; and, from another device of hers, more downloads than fit one page of
    the auditor's log."""
    ctx = site["ctx"]
    officer = Visitor(site["app"], ctx).login("urzednik_zg", site["secrets"]["officer"])
    applicant = {"kind": "resident", "organization_teryt": JST,
                 "revocation_password": REVOCATION_PASSWORD, **RESIDENT}
    enrolment_id, code = record_enrolment(officer, applicant)
    serials = [issue_from_csr(officer, enrolment_id, make_csr(), profile)
               for profile in ("resident-signing", "resident-authentication")]
    filler_id, filler_code = record_enrolment(officer, applicant)
    filler_serial = issue_from_csr(officer, filler_id, make_csr())
    other_device = Visitor(site["app"], ctx)
    assert other_device.pickup(filler_code).status_code == 302
    for _ in range(55):
        assert other_device.get(f"/my/certificates/{filler_serial}.der").status_code == 200
    return {"code": code, "serials": serials, "filler": filler_serial, "state": {}}


def _events(ctx, action: str, obj: str, outcome: str = "success") -> int:
    t = AuditEvent.__table__
    with ctx.db.reading() as s:
        return len(s.execute(select(t.c.seq).where(
            t.c.action == action, t.c.object == obj, t.c.outcome == outcome)).all())


def _polish(text: str) -> str:
    assert text.strip() and not ENGLISH.search(text), f"not Polish: {text!r}"
    return text


# -- day 1 -------------------------------------------------------------------------------------

def test_day_one_resident_collects_and_downloads_every_format(site, browser, resident):
    page = new_page(browser)
    page.goto(site["url"] + "/pickup")
    check_page(page, "r01-pickup")
    page.get_by_role("button", name="Dalej").click()  # nothing typed
    _polish(field_error(page, "Kod odbioru"))
    page.get_by_label("Kod odbioru").fill("AAAA-BBBB-CCCC-DDDD")
    page.get_by_role("button", name="Dalej").click()
    error = _polish(field_error(page, "Kod odbioru"))
    assert "nieprawidłowy" in error
    assert page.evaluate("document.activeElement.id") == "code"
    check_page(page, "r02-pickup-wrong-code")
    page.get_by_label("Kod odbioru").fill(resident["code"])
    page.get_by_role("button", name="Dalej").click()
    assert page.get_by_role("heading", name="Moje certyfikaty").is_visible()
    check_page(page, "r03-my-certificates")
    signing, _ = resident["serials"]
    name = "Podpis mieszkańca"
    pem = download(page, page.get_by_role("link", name=f"PEM {name}"))
    der = download(page, page.get_by_role("link", name=f"DER {name}"))
    p7b = download(page, page.get_by_role("link", name=f"P7B z łańcuchem {name}"))
    cert = x509.load_pem_x509_certificate(pem)
    assert format(cert.serial_number, "x") == signing.lstrip("0")
    assert x509.load_der_x509_certificate(der) == cert
    chain = pkcs7.load_der_pkcs7_certificates(p7b)
    assert set(chain) == {cert, *site["ctx"].chain()}  # a DER SET OF: in no set order
    proof_link = f"Dowód wpisu do dziennika przejrzystości {name}"
    page.get_by_role("link", name=proof_link).click()  # no signed tree head covers it yet
    _polish(page.locator("main").inner_text())
    check_page(page, "r03b-proof-not-yet")
    head_signer(site["ctx"]).sign()  # what the scheduler does within the merge delay
    page.go_back()
    proof = download(page, page.get_by_role("link", name=proof_link))
    assert rfc9162.proves_certificate(json.loads(proof), der)
    resident["state"]["day1"] = page  # the same browser comes back tomorrow


# -- day 2 -------------------------------------------------------------------------------------

def test_day_two_the_session_has_ended_and_the_resident_comes_back(site, browser, resident):
    page = resident["state"].get("day1")
    if page is None:
        pytest.skip("needs day 1")
    ctx = site["ctx"]
    ctx.clock.advance(days=1)
    page.goto(site["url"] + "/my")
    assert page.url.endswith("/return")  # the resident's way back, not the staff log-in
    check_page(page, "r04-return")
    page.get_by_role("button", name="Dalej").click()  # nothing typed
    _polish(field_error(page, "Kod odbioru"))
    _polish(field_error(page, "Hasło do unieważnienia"))
    check_page(page, "r05-return-empty")
    page.get_by_label("Kod odbioru").fill(resident["code"])
    page.get_by_label("Hasło do unieważnienia").fill("nie-to-haslo")
    page.get_by_role("button", name="Dalej").click()
    wrong = _polish(field_error(page, "Hasło do unieważnienia"))
    assert "hasło do unieważnienia jest nieprawidłowe" in wrong
    check_page(page, "r06-return-wrong-password")
    for _ in range(4):  # the back-off: after a few wrong guesses even the right one waits
        page.get_by_label("Kod odbioru").fill(resident["code"])
        page.get_by_label("Hasło do unieważnienia").fill("nie-to-haslo")
        page.get_by_role("button", name="Dalej").click()
    page.get_by_label("Kod odbioru").fill(resident["code"])
    page.get_by_label("Hasło do unieważnienia").fill(REVOCATION_PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/return")) as answer:
        page.get_by_role("button", name="Dalej").click()
    assert answer.value.status == 429
    wait = _polish(field_error(page, "Hasło do unieważnienia"))
    seconds = int(re.search(r"za (\d+) s", wait)[1])
    assert seconds == int(answer.value.headers["retry-after"])
    check_page(page, "r07-return-backed-off")
    ctx.clock.advance(seconds=seconds)
    page.get_by_label("Kod odbioru").fill(resident["code"].lower())
    page.get_by_label("Hasło do unieważnienia").fill(REVOCATION_PASSWORD)
    page.get_by_role("button", name="Dalej").click()
    assert page.get_by_role("heading", name="Moje certyfikaty").is_visible()
    listed = page.locator("main").inner_text()
    assert all(serial in listed for serial in resident["serials"])
    check_page(page, "r08-my-certificates-day-two")
    resident["state"]["day2"] = page


def test_public_page_revokes_once_with_the_reason_chosen_in_polish(site, browser, resident):
    ctx = site["ctx"]
    _, authentication = resident["serials"]
    page = new_page(browser)
    page.goto(site["url"] + "/revoke")
    check_page(page, "r09-public-revoke")
    labels = page.locator("fieldset label").all_inner_texts()
    assert any("zmiana danych" in label for label in labels)
    assert not any(re.search(r"[a-z][A-Z]", label) for label in labels)  # no RFC 5280 names
    page.get_by_role("button", name="Dalej").click()  # nothing typed, no reason
    _polish(field_error(page, "Numer seryjny certyfikatu"))
    _polish(field_error(page, "Hasło do unieważnienia"))
    _polish(page.locator("#reason-error").inner_text())
    check_page(page, "r10-public-revoke-empty")
    unknown = format(int(authentication, 16) ^ 0xFFFF, "x")
    answers = []
    for serial, password in ((authentication, "zle-haslo-123"), (unknown, REVOCATION_PASSWORD)):
        page.get_by_label("Numer seryjny certyfikatu").fill(serial)
        page.get_by_label("Hasło do unieważnienia").fill(password)
        page.get_by_label(re.compile("^zmiana danych")).check()
        page.get_by_role("button", name="Dalej").click()
        answers.append(_polish(field_error(page, "Hasło do unieważnienia")))
    assert answers[0] == answers[1]
    check_page(page, "r11-public-revoke-not-recognised")
    page.get_by_label("Numer seryjny certyfikatu").fill(authentication)
    page.get_by_label("Hasło do unieważnienia").fill(REVOCATION_PASSWORD)
    page.get_by_label(re.compile("^zmiana danych")).check()
    page.get_by_role("button", name="Dalej").click()
    page.wait_for_url(re.compile(r"/revoke/confirm$"))
    assert authentication in page.locator("#serial").inner_text()
    assert "zmiana danych" in page.locator("#reason").inner_text()
    assert "nie da się tego cofnąć" in page.locator("main").inner_text()
    check_page(page, "r12-public-revoke-confirm")
    assert ocsp_answer(site, authentication).certificate_status == ocsp.OCSPCertStatus.GOOD
    click_twice(page, site, "Tak, unieważnij ten certyfikat", "/revoke/confirm")
    page.wait_for_url(re.compile(r"/revoke/done\?done="))
    shown = page.locator("#revoked").inner_text()
    assert authentication in shown and "zmiana danych" in shown
    page.reload()
    assert page.locator("#revoked").inner_text() == shown
    check_page(page, "r13-public-revoke-done")
    page.goto(site["url"] + "/revoke/confirm")  # the proof was spent: back to the start
    assert page.url.endswith("/revoke")
    obj = f"certificate:{authentication}"
    assert _events(ctx, "certificate.revoke", obj) == 1
    with ctx.db.reading() as s:
        row = cert_store.get(s, authentication)
    assert (row.status, row.revocation_reason) == ("revoked", "affiliationChanged")
    answer = ocsp_answer(site, authentication)
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.affiliation_changed
    day2 = resident["state"].get("day2")
    if day2 is not None:  # the resident's own page says so, in Polish
        day2.reload()
        assert "unieważniony (zmiana danych)" in day2.locator("main").inner_text()
    resident["state"]["revoked"] = authentication
    page.context.close()


def test_resident_revokes_from_her_own_page_once(site, browser, resident):
    page = resident["state"].get("day2")
    if page is None:
        pytest.skip("needs day 2")
    ctx = site["ctx"]
    signing, _ = resident["serials"]
    page.goto(site["url"] + f"/my/certificates/{resident['filler']}.pem")  # not this session's
    assert _polish(page.locator("[role=alert]").inner_text()).startswith(
        "Nie masz takiego certyfikatu.")
    check_page(page, "r14-not-hers")
    page.goto(site["url"] + "/my")
    page.get_by_role("link", name="Unieważnij ten certyfikat… Podpis mieszkańca").click()
    check_page(page, "r15-my-revoke")
    page.get_by_label("Hasło do unieważnienia").fill("zle-haslo-123")
    page.get_by_role("button", name="Tak, unieważnij certyfikat").click()
    assert "Nieprawidłowe hasło" in _polish(field_error(page, "Hasło do unieważnienia"))
    assert page.evaluate("document.activeElement.id") == "password"
    check_page(page, "r16-my-revoke-wrong-password")
    page.get_by_label("Hasło do unieważnienia").fill(REVOCATION_PASSWORD)
    click_twice(page, site, "Tak, unieważnij certyfikat", f"/my/certificates/{signing}/revoke")
    page.wait_for_url(re.compile(r"/my\?done="))
    assert f"Certyfikat {signing} został unieważniony." in page.locator("main").inner_text()
    page.reload()
    assert f"Certyfikat {signing} został unieważniony." in page.locator("main").inner_text()
    assert _events(ctx, "certificate.revoke", f"certificate:{signing}") == 1
    assert ocsp_answer(site, signing).certificate_status == ocsp.OCSPCertStatus.REVOKED
    check_page(page, "r17-my-certificates-revoked")


# -- the auditor -------------------------------------------------------------------------------

def test_auditor_filters_pages_and_exports_without_the_pesel(site, browser, resident):
    revoked = resident["state"].get("revoked")
    if revoked is None:
        pytest.skip("needs the public revocation")
    ctx = site["ctx"]
    pesel = RESIDENT["pesel"]
    page = new_page(browser)
    login(page, site, "audytor_woj", "auditor")
    names = page.get_by_label("Rodzaj zdarzenia").locator("option").all_inner_texts()
    assert not [n for n in names if re.fullmatch(r"[a-z_]+\.[a-z_.]+", n)], names
    page.get_by_label("Rodzaj zdarzenia").select_option(label="pobranie certyfikatu")
    page.get_by_role("button", name="Filtruj").click()
    total = int(re.search(r"z (\d+)", page.locator("#total").inner_text())[1])
    assert total > 55
    assert page.locator("#events tbody tr").count() == 50
    check_page(page, "r20-audit-downloads")
    page.get_by_role("link", name="Następna").click()
    assert page.locator("#events tbody tr").count() == total - 50
    assert page.locator("[aria-current=page]").inner_text() == "2"
    check_page(page, "r21-audit-downloads-page-2")
    today = ctx.now().astimezone(WARSAW).date()
    page.goto(site["url"] + "/audit")
    page.get_by_label("Rodzaj zdarzenia").select_option(label="unieważnienie certyfikatu")
    page.get_by_label("Od dnia").fill(today.isoformat())
    page.get_by_label("Do dnia").fill(today.isoformat())
    page.get_by_role("button", name="Filtruj").click()
    events = page.locator("#events").inner_text()
    assert f"certificate:{revoked}" in events
    assert today.strftime("%Y-%m-%d") in events
    assert (today - dt.timedelta(days=1)).strftime("%Y-%m-%d") not in events
    assert pesel not in page.content()
    check_page(page, "r22-audit-revocations-today")
    page.get_by_label("Rodzaj zdarzenia").select_option(label="wszystkie")
    page.get_by_role("button", name="Filtruj").click()  # all of today: the resident's return too
    named = page.locator("#events td[data-label=Zdarzenie]").all_inner_texts()
    assert "powrót mieszkańca z kodem i hasłem" in named
    assert not [n for n in named if re.fullmatch(r"[a-z_]+\.[a-z_.]+", n)], named
    page.get_by_label("Rodzaj zdarzenia").select_option(label="unieważnienie certyfikatu")
    page.get_by_role("button", name="Filtruj").click()
    body = download(page, page.get_by_role("link", name="Eksport CSV (Excel)"))
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert {r["action"] for r in rows} == {"certificate.revoke"}
    assert any(r["object"] == f"certificate:{revoked}" and r["outcome"] == "success"
               for r in rows)
    exported = json.loads(download(page, page.get_by_role("link", name="Eksport JSON")))
    assert [(e["seq"], e["object"]) for e in exported] == [
        (int(r["seq"]), r["object"]) for r in rows]
    # a search by PESEL finds her events; no export, page or record afterwards holds it
    page.goto(site["url"] + "/audit")
    page.get_by_label("PESEL osoby").fill(pesel)
    page.get_by_role("button", name="Filtruj").click()
    assert int(re.search(r"z (\d+)", page.locator("#total").inner_text())[1]) > 0
    check_page(page, "r23-audit-by-pesel")
    searched = download(page, page.get_by_role("link", name="Eksport JSON"))
    page.goto(site["url"] + "/audit")
    everything = (download(page, page.get_by_role("link", name="Eksport CSV (Excel)"))
                  + download(page, page.get_by_role("link", name="Eksport JSON")) + searched)
    assert pesel.encode() not in everything
    page.get_by_label("Rodzaj zdarzenia").select_option(label="eksport dziennika zdarzeń")
    page.get_by_role("button", name="Filtruj").click()
    assert pesel not in page.content()
    page.context.close()


# -- the administrator -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def admin(site):
    ctx = site["ctx"]
    site["secrets"]["admin"] = add_staff(ctx, "admin_woj", "administrator")
    for username in ("urzednik_odchodzi", "urzednik_drugi", "urzednik_trzeci"):
        add_staff(ctx, username, "officer", [JST])
    return "urzednik_odchodzi"


def _keys(ctx) -> int:
    with ctx.db.reading() as s:
        return len(s.execute(select(ApiKey.__table__.c.id)).all())


def test_administrator_disables_a_log_in_resets_totp_and_issues_a_key_once(site, browser,
                                                                           admin):
    ctx = site["ctx"]
    page = new_page(browser)
    login(page, site, "admin_woj", "admin")
    check_page(page, "r30-admin")
    page.goto(site["url"] + f"/admin/users/{admin}")
    check_page(page, "r31-admin-user")
    page.get_by_role("link", name="Nadaj hasło tymczasowe").click()  # asked, then declined
    assert admin in page.locator("#what-happens").inner_text()
    check_page(page, "r31a-admin-confirm-password")
    page.get_by_role("link", name="Nie, wróć").click()
    assert _events(ctx, "user.password_reset", f"user:{admin}") == 0
    page.get_by_role("link", name="Wyłącz konto").click()
    assert "sesje zostaną od razu zakończone" in page.locator("#what-happens").inner_text()
    assert _events(ctx, "user.disable", f"user:{admin}") == 0
    check_page(page, "r31b-admin-confirm-disable")
    page.get_by_role("button", name="Tak, wyłącz konto").click()
    assert page.locator("#user-state").inner_text() == "wyłączony"
    page.reload()
    assert page.locator("#user-state").inner_text() == "wyłączony"
    assert _events(ctx, "user.disable", f"user:{admin}") == 1
    check_page(page, "r32-admin-user-disabled")
    page.get_by_role("link", name="Zresetuj TOTP").click()
    assert "nie można cofnąć" in page.locator("#what-happens").inner_text()
    check_page(page, "r32a-admin-confirm-totp")
    page.get_by_role("button", name="Tak, zresetuj TOTP").click()
    assert "do skonfigurowania przy logowaniu" in page.locator("main").inner_text()
    assert _events(ctx, "user.totp_reset", f"user:{admin}") == 1
    check_page(page, "r33-admin-user-totp-reset")
    page.goto(site["url"] + "/admin/api-keys")
    check_page(page, "r34-api-keys")
    page.get_by_role("button", name="Utwórz klucz").click()  # nothing filled in
    _polish(page.locator("[role=alert]").inner_text())
    check_page(page, "r35-api-keys-empty")
    before = _keys(ctx)
    page.get_by_label("Nazwa (np. system EOD)").fill("EOD Zielona Góra")
    page.get_by_label("sign", exact=True).check()
    page.get_by_label("Tylko dla JST").select_option(JST)
    page.get_by_role("button", name="Utwórz klucz").click()
    key = page.locator("#api-key").inner_text()
    assert len(key) > 20 and _keys(ctx) == before + 1
    check_page(page, "r36-api-key-created")
    page.goto(site["url"] + "/admin/api-keys")  # shown once: only its hash is kept
    assert key not in page.content()
    row = page.locator("tr", has_text="EOD Zielona Góra")
    row.get_by_role("link", name=re.compile("^Odwołaj")).click()
    assert "nie można cofnąć" in page.locator("#what-happens").inner_text()
    assert "EOD Zielona Góra" in page.locator("main").inner_text()
    check_page(page, "r36a-api-key-confirm-revoke")
    page.get_by_role("button", name="Tak, odwołaj klucz").click()
    assert page.locator("tr", has_text="EOD Zielona Góra").count() == 0
    check_page(page, "r37-api-key-revoked")
    page.context.close()


def test_double_click_on_create_key_makes_one_key(site, browser, admin):
    ctx = site["ctx"]
    page = new_page(browser)
    login(page, site, "admin_woj", "admin")
    page.goto(site["url"] + "/admin/api-keys")
    before = _keys(ctx)
    page.get_by_label("Nazwa (np. system EOD)").fill("Podwójne kliknięcie")
    page.get_by_label("verify", exact=True).check()
    click_twice(page, site, "Utwórz klucz", "/admin/api-keys")
    page.context.close()
    assert _keys(ctx) == before + 1


def test_double_click_on_disable_shows_the_disabled_log_in_not_a_refusal(site, browser, admin):
    ctx = site["ctx"]
    page = new_page(browser)
    login(page, site, "admin_woj", "admin")
    page.goto(site["url"] + "/admin/users/urzednik_drugi/disable")
    click_twice(page, site, "Tak, wyłącz konto", "/admin/users/urzednik_drugi/disable")
    assert _events(ctx, "user.disable", "user:urzednik_drugi") == 1
    shown = page.locator("main").inner_text()
    page.context.close()
    assert "Nie można wyłączyć" not in shown


def test_double_click_on_reset_totp_resets_once(site, browser, admin):
    ctx = site["ctx"]
    page = new_page(browser)
    login(page, site, "admin_woj", "admin")
    page.goto(site["url"] + "/admin/users/urzednik_trzeci/reset-totp")
    click_twice(page, site, "Tak, zresetuj TOTP", "/admin/users/urzednik_trzeci/reset-totp")
    page.context.close()
    assert _events(ctx, "user.totp_reset", "user:urzednik_trzeci") == 1
