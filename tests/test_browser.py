"""End to end in a real browser (Debian's Chromium driven by Playwright), one browser for the
module: an officer enrols a resident onto a SoftHSM2 token (a wrong PESEL first, then a double
click and reloads that must not duplicate anything), searches, revokes through the confirmation
page; the resident collects the certificate with the pickup code; an auditor filters by a
Polish event name and exports CSV for Polish Excel. On every page axe-core reports no
violation and, at 375 and 320 CSS pixels wide, nothing scrolls sideways (WCAG 1.4.10).
Screenshots go to tests/artifacts/ (not versioned)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from browser_kit import (
    ARTIFACTS,
    assert_focused,
    check_page,
    click_twice,
    count,
    fill_applicant,
    launch_browser,
    login,
    new_page,
    serve_site,
)
from conftest import RESIDENT

from ca.store.models import Certificate, Enrolment

pytestmark = [pytest.mark.browser, pytest.mark.hsm]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    yield from serve_site(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def test_officer_enrols_once_however_often_the_form_is_sent(site, browser):
    ctx = site["ctx"]
    page = new_page(browser)
    login(page, site, "urzednik_zg", "officer")
    page.get_by_role("link", name="Nowy wniosek").first.click()
    check_page(page, "02-new-enrolment")
    # a PESEL with a wrong check digit: said in Polish, next to the field, which takes focus
    fill_applicant(page, RESIDENT["pesel"][:-1] + "5")
    page.get_by_role("button", name="Zapisz wniosek").click()
    pesel = page.get_by_label("PESEL")
    assert pesel.get_attribute("aria-invalid") == "true"
    assert "pesel-error" in pesel.get_attribute("aria-describedby").split()
    error = page.locator("#pesel-error").inner_text()
    assert "PESEL jest nieprawidłowy" in error and "checksum" not in page.content()
    assert_focused(page, "pesel")
    check_page(page, "02b-new-enrolment-error")
    # a double click sends the form twice; one enrolment, and a reload changes nothing
    before = count(ctx, Enrolment)
    fill_applicant(page, RESIDENT["pesel"])
    click_twice(page, site, "Zapisz wniosek", "/enrolments/new")
    page.wait_for_url(re.compile(r"/enrolments/\d+/recorded"))
    code = page.locator("#pickup-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", code)
    page.reload()
    assert page.locator("#pickup-code").inner_text() == code
    assert count(ctx, Enrolment) == before + 1
    site["state"]["pickup_code"] = code
    check_page(page, "03-recorded")
    page.get_by_role("link", name=re.compile("wydaj certyfikat")).click()
    enrolment_url = page.url
    check_page(page, "04-enrolment")
    for title in ("Podpis mieszkańca", "Uwierzytelnienie mieszkańca"):
        page.get_by_label(title).check()
    page.get_by_label("Etykieta tokenu").fill(site["token"].label)
    page.get_by_label("PIN użytkownika tokenu").fill(site["token"].pin)
    certificates_before = count(ctx, Certificate)
    page.get_by_role("button", name=re.compile("Generuj klucze")).click()
    issued = page.locator("#issued li")
    assert issued.count() == 2 and "Wydano 2 certyfikaty." in page.locator("#success").inner_text()
    serials = re.findall(r"[0-9a-f]{16,}", page.locator("#issued").inner_text())
    page.reload()  # "Wydano" again: the same two, nothing issued anew
    assert re.findall(r"[0-9a-f]{16,}", page.locator("#issued").inner_text()) == serials
    assert count(ctx, Certificate) == certificates_before + 2
    site["state"]["serials"] = serials
    check_page(page, "05-issued")
    objects = site["token"].objects()
    keys = [o for o in objects if o["kind"].startswith("Private Key")]
    assert len(keys) == 2 and all("never extractable" in k["access"] for k in keys)
    # search: by PESEL (exact) and by serial, with the total
    for query in (RESIDENT["pesel"], serials[1]):
        page.goto(site["url"] + "/enrolments")
        page.get_by_role("searchbox", name="Szukaj").fill(query)
        page.get_by_role("button", name="Szukaj").click()
        assert page.locator("#total").inner_text().startswith("1 wniosek")
        assert page.get_by_role("link", name=re.compile(RESIDENT["surname"])).count() == 1
    check_page(page, "06-search")
    # revoke the authentication certificate, through its confirmation page
    page.goto(enrolment_url)
    page.get_by_role("link", name=re.compile(f"Unieważnij.*{serials[1]}")).click()
    assert "nie można cofnąć" in page.locator("#what-happens").inner_text()
    reasons = page.get_by_label("Powód unieważnienia").locator("option").all_inner_texts()
    assert "utrata lub kompromitacja klucza" in reasons and "keyCompromise" not in reasons
    check_page(page, "07-revoke-confirm")
    page.get_by_label("Powód unieważnienia").select_option(label="zmiana danych")
    click_twice(page, site, "Tak, unieważnij certyfikat", f"/certificates/{serials[1]}/revoke")
    page.wait_for_url(re.compile(r"/enrolments/\d+\?done="))
    assert "został unieważniony" in page.locator("#success").inner_text()
    assert "unieważniony (zmiana danych)" in page.locator("#certificates").inner_text()
    with ctx.db.reading() as s:
        row = s.get(Certificate, serials[1])
    assert (row.status, row.revocation_reason) == ("revoked", "affiliationChanged")
    check_page(page, "08-enrolment-after-revoke")
    page.get_by_role("link", name="Tokeny").first.click()
    assert page.locator("#total").inner_text().startswith("1 token")
    check_page(page, "09-token-registry")
    page.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    assert page.locator("#token-state").inner_text() == "w użyciu"
    check_page(page, "10-token")
    page.get_by_role("link", name="Zgłoś utratę…").click()
    assert "utrata lub kompromitacja klucza" in page.locator("#what-happens").inner_text()
    check_page(page, "11-token-report-lost")  # asked, not done: the token stays in use
    page.context.close()


def test_resident_collects_the_certificate_with_the_pickup_code(site, browser):
    code = site["state"].get("pickup_code")
    if code is None:
        pytest.skip("needs the officer's enrolment from the test before")
    page = new_page(browser)
    page.goto(site["url"] + "/")
    check_page(page, "12-home")
    page.get_by_role("link", name="Wpisz kod odbioru").click()
    check_page(page, "13-pickup")
    page.get_by_label("Kod odbioru").fill(code)
    page.get_by_role("button", name="Dalej").click()
    assert page.get_by_role("heading", name="Moje certyfikaty").is_visible()
    check_page(page, "14-my-certificates")
    with page.expect_download() as download:
        page.get_by_role("link", name="PEM Podpis mieszkańca").click()
    pem = Path(download.value.path()).read_bytes()
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    shutil.copy(download.value.path(), ARTIFACTS / "resident-signing.crt")
    page.get_by_role("link", name=re.compile("Unieważnij ten certyfikat")).click()
    assert "nie można cofnąć" in page.locator("#what-happens").inner_text()
    check_page(page, "15-my-revoke-confirm")
    other = new_page(browser)
    other.goto(site["url"] + "/pickup")
    other.get_by_label("Kod odbioru").fill(code)
    other.get_by_role("button", name="Dalej").click()
    assert "już użyty" in other.locator("#code-error").inner_text()
    page.goto(site["url"] + "/my?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    check_page(page, "16-my-certificates-en")
    for path, name in (("/deklaracja-dostepnosci", "17-accessibility"),
                       ("/rodo", "18-rodo"), ("/polityka-certyfikacji", "19-cps")):
        page.goto(site["url"] + path)
        check_page(page, name)
    page.context.close()
    other.context.close()


def test_auditor_filters_by_polish_event_names_and_exports_for_excel(site, browser):
    serials = site["state"].get("serials")
    if not serials:
        pytest.skip("needs the officer's enrolment from the first test")
    page = new_page(browser)
    login(page, site, "audytor_woj", "auditor")
    page.get_by_label("Urzędnik (login)").fill("urzednik_zg")
    page.get_by_label("Rodzaj zdarzenia").select_option(label="wydanie certyfikatu")
    page.get_by_role("button", name="Filtruj").click()
    for serial in serials:
        assert page.get_by_role("link", name=f"certificate:{serial}").is_visible()
    assert re.match(r"2 zdarzenia", page.locator("#total").inner_text())
    assert "nienaruszony" in page.locator("#chain-status").inner_text()
    check_page(page, "20-audit")
    with page.expect_download() as download:
        page.get_by_role("link", name="Eksport CSV (Excel)").click()
    body = Path(download.value.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf") and body.count(b";") > body.count(b"\n")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert {r["object"] for r in rows} == {f"certificate:{s}" for s in serials}
    warsaw = ZoneInfo("Europe/Warsaw")
    for r in rows:
        at = dt.datetime.fromisoformat(r["at"])
        assert at.utcoffset() == at.astimezone(warsaw).utcoffset()
        shown = at.astimezone(warsaw).strftime("%Y-%m-%d %H:%M:%S")
        assert shown in page.locator("#events").inner_text()
    page.get_by_role("link", name="Usługi dla JST").click()
    assert page.locator("#usage").is_visible()
    check_page(page, "21-usage")
    page.go_back()
    page.get_by_role("link", name="Certyfikaty").first.click()
    assert re.match(r"\d+ certyfikat", page.locator("#total").inner_text())
    check_page(page, "21b-certificates")
    page.go_back()
    page.get_by_role("link", name=f"certificate:{serials[0]}").click()
    assert "personalizacja tokenu" in page.content() or "wydanie certyfikatu" in page.content()
    assert RESIDENT["pesel"] not in page.content()
    check_page(page, "22-certificate-history")
    page.context.close()
