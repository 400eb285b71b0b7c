"""The officer's day beyond the resident's enrolment (tests/test_browser.py), in a real browser
(Debian's Chromium under Playwright), in Polish: a JST staff member enrolled, issued from a CSR
and onto a blank token; the application form, pickup-code slip, PIN/PUK letter and handover
protocol printed through the pages and read back with pdftotext; a CSV of staff imported after
its dry run, once however often the confirmation is sent; a certificate renewed while the old
one stays good at the OCSP responder; the enrolment and expiring lists walked page by page. Each
form is first sent empty or wrong: the error is Polish, bound to its field, which takes focus.
Every page passes browser_kit.check_page (axe-core, no sideways scroll at 375 and 320 px)."""

from __future__ import annotations

import re

import pytest
from browser_kit import (
    assert_field_error,
    assert_focused,
    check_page,
    click_twice,
    count,
    download_pdf_text,
    launch_browser,
    login,
    new_page,
    ocsp_answer,
)
from browser_kit import serve_site as _serve_site
from conftest import make_csr, new_key
from cryptography.x509 import ocsp

from ca.store import certificates as cert_store
from ca.store.models import Certificate, Enrolment
from ra import enrolment as enrol
from regca.roles import registration_authority

pytestmark = [pytest.mark.browser, pytest.mark.hsm]

JST, JST_NAME, OTHER_JST = "0862011", "Gmina Miasto Zielona Góra", "0861011"
STAFF = {"given_name": "Bożena", "surname": "Łukaszewicz-Źródło", "email":
         "b.lukaszewicz@um.zielona-gora.example", "title": "Inspektor ds. kadr"}
BLANK_LABEL, BLANK_PIN = "Karta pracownika", "246810"


def pesel(n: int, born: str = "750412") -> str:
    """A valid PESEL (born ``born``, serial ``n``) with its check digit."""
    body = f"{born}{n:04d}"
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    return body + str((10 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 10) % 10)


STAFF_PESEL = pesel(1234)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    yield from _serve_site(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def _csr_file(name: str = "pracownik.csr", key=None) -> dict:
    return {"name": name, "mimeType": "application/pkcs10", "buffer": make_csr(key or new_key())}


def test_officer_enrols_a_staff_member_issues_and_prints_the_papers(site, browser):
    ctx = site["ctx"]
    page = new_page(browser)
    login(page, site, "urzednik_zg", "officer")
    page.get_by_role("link", name="Nowy wniosek").first.click()
    # sent empty: the first missing field says so in Polish, bound to it, and takes the focus
    page.get_by_label(re.compile("^Rodzaj wnioskodawcy")).select_option("staff")
    page.get_by_role("button", name="Zapisz wniosek").click()
    assert_field_error(page, "given_name", "Podaj imię.")
    assert_field_error(page, "surname", "Podaj nazwisko.", focused=False)
    assert "This field is required" not in page.content()
    check_page(page, "o01-new-staff-error")
    page.get_by_label(re.compile("^Rodzaj wnioskodawcy")).select_option("staff")
    page.get_by_label(re.compile("^JST")).select_option(JST)
    page.get_by_label("Imię").fill(STAFF["given_name"])
    page.get_by_label("Nazwisko").fill(STAFF["surname"])
    page.get_by_label("PESEL").fill(STAFF_PESEL)
    page.get_by_label("Adres e-mail").fill(STAFF["email"])
    page.get_by_label(re.compile("^Stanowisko")).fill(STAFF["title"])
    before = count(ctx, Enrolment)
    page.get_by_role("button", name="Zapisz wniosek").click()
    page.wait_for_url(re.compile(r"/enrolments/\d+/recorded"))
    assert count(ctx, Enrolment) == before + 1
    enrolment_id = int(re.search(r"/enrolments/(\d+)/", page.url)[1])
    code = page.locator("#pickup-code").inner_text()
    check_page(page, "o02-staff-recorded")

    # the pickup-code slip and the application form, printed from the recorded page
    slip = download_pdf_text(page, lambda: page.get_by_role(
        "button", name=re.compile("Drukuj kartkę z kodem odbioru")).click())
    assert code in slip and STAFF["surname"] in slip and JST_NAME in slip
    assert STAFF_PESEL not in slip
    form = download_pdf_text(page, lambda: page.get_by_role(
        "link", name=re.compile("Drukuj wniosek do podpisu")).click())
    assert f"Wniosek o wydanie certyfikatu nr {enrolment_id}" in form
    for said in (STAFF["given_name"], STAFF["surname"], STAFF_PESEL, STAFF["title"], JST_NAME,
                 "pracownik JST"):
        assert said in form, said

    page.get_by_role("link", name=re.compile("wydaj certyfikat")).click()
    enrolment_url = page.url
    check_page(page, "o03-staff-enrolment")
    # the CSR form sent without its file
    page.get_by_label("Profil", exact=True).select_option("staff-signing")
    page.get_by_role("button", name="Wydaj certyfikat").click()
    assert_field_error(page, "csr", "Wybierz plik z żądaniem CSR.")
    check_page(page, "o04-csr-error")
    page.get_by_label("Profil", exact=True).select_option("staff-signing")
    key = new_key()
    page.get_by_label(re.compile(r"^Plik CSR \(PKCS#10")).set_input_files(_csr_file(key=key))
    certificates_before = count(ctx, Certificate)
    click_twice(page, site, "Wydaj certyfikat", f"/enrolments/{enrolment_id}/csr")
    page.wait_for_url(re.compile(r"/enrolments/\d+/issued"))
    page.reload()
    assert count(ctx, Certificate) == certificates_before + 1  # sent twice, issued once
    assert "Wydano 1 certyfikat." in page.locator("#success").inner_text()
    csr_serial = re.findall(r"[0-9a-f]{16,}", page.locator("#issued").inner_text())[0]
    assert "BEGIN CERTIFICATE" in page.locator("pre").inner_text()
    check_page(page, "o05-issued-from-csr")

    # a blank token, initialised at the desk: sent with no profile ticked and no label first
    page.goto(enrolment_url)
    page.get_by_role("button", name=re.compile("Generuj klucze")).click()
    assert "Zaznacz co najmniej jeden profil." in page.locator("#profiles-error").inner_text()
    fieldset = page.locator("fieldset", has=page.locator("#profiles-error"))
    assert "profiles-error" in fieldset.get_attribute("aria-describedby").split()
    assert_focused(page, "profiles-0")
    assert_field_error(page, "token_label", "Podaj etykietę tokenu.", focused=False)
    check_page(page, "o06-token-error")
    page.get_by_label(re.compile("^Uwierzytelnienie pracownika")).check()
    page.get_by_label(re.compile("^Czysty token")).check()
    page.get_by_label("Etykieta tokenu").fill(BLANK_LABEL)
    page.get_by_label("PIN użytkownika tokenu").fill(BLANK_PIN)
    page.get_by_role("button", name=re.compile("Generuj klucze")).click()
    page.wait_for_url(re.compile(r"/enrolments/\d+/issued"))
    token_serial = re.findall(r"[0-9a-f]{16,}", page.locator("#issued").inner_text())[0]
    check_page(page, "o07-issued-on-blank-token")
    letter = download_pdf_text(page, lambda: page.get_by_role(
        "button", name=re.compile("Drukuj list z kodami PIN i PUK")).click())
    assert f"PIN: {BLANK_PIN}" in letter and "PUK" in letter and BLANK_LABEL in letter
    assert STAFF["surname"] in letter and JST_NAME in letter and STAFF_PESEL not in letter
    protocol = download_pdf_text(page, lambda: page.get_by_role(
        "link", name=re.compile("Drukuj protokół wydania")).click())
    assert f"Protokół wydania nr {enrolment_id}" in protocol
    flat = protocol.replace("\n", " ")
    for said in (STAFF["given_name"], STAFF["surname"], csr_serial, token_serial, BLANK_LABEL,
                 JST_NAME, "urzednik_zg"):
        assert said in flat, said
    assert STAFF_PESEL not in protocol  # only the application form carries the PESEL
    site["state"].update(enrolment_url=enrolment_url, csr_serial=csr_serial, csr_key=key,
                         token_serial=token_serial)
    page.context.close()


def test_renewal_issues_a_new_certificate_and_the_old_stays_good(site, browser):
    state = site["state"]
    if "csr_serial" not in state:
        pytest.skip("needs the staff member's certificates from the test before")
    ctx, old = site["ctx"], state["csr_serial"]
    page = new_page(browser)
    login(page, site, "urzednik_zg", "officer")
    page.goto(state["enrolment_url"])
    renew = page.get_by_label("Certyfikat do odnowienia")
    renew.select_option(old)
    page.get_by_role("button", name="Odnów certyfikat").click()  # neither a CSR nor a PIN
    assert_field_error(page, "renew-csr", "Dołącz plik CSR albo podaj PIN")
    check_page(page, "o08-renew-error")
    # the core refuses a signing certificate renewed with its old key: said in Polish, bound
    page.get_by_label("Certyfikat do odnowienia").select_option(old)
    page.get_by_label(re.compile(r"^Plik CSR \(PEM lub DER\)")).set_input_files(
        _csr_file("stary-klucz.csr", key=state["csr_key"]))
    page.get_by_role("button", name="Odnów certyfikat").click()
    assert_field_error(page, "renew-csr", "Ten profil odnawia się nowym kluczem")
    assert "renews with" not in page.content()
    page.get_by_label("Certyfikat do odnowienia").select_option(old)
    page.get_by_label(re.compile(r"^Plik CSR \(PEM lub DER\)")).set_input_files(
        _csr_file("odnowienie.csr"))
    certificates_before = count(ctx, Certificate)
    click_twice(page, site, "Odnów certyfikat", re.search(r"/enrolments/\d+", state[
        "enrolment_url"])[0] + "/renew")
    page.wait_for_url(re.compile(r"/enrolments/\d+/issued"))
    assert old in page.locator("#renewed").inner_text()
    new = re.findall(r"[0-9a-f]{16,}", page.locator("#issued").inner_text())[0]
    assert new != old
    page.reload()  # sent twice, shown again: renewed once
    assert count(ctx, Certificate) == certificates_before + 1
    check_page(page, "o09-renewed")
    with ctx.db.reading() as s:
        assert (cert_store.get(s, old).status, cert_store.get(s, new).status) == ("issued",) * 2
    assert ocsp_answer(site, old).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert ocsp_answer(site, new).certificate_status == ocsp.OCSPCertStatus.GOOD
    page.goto(state["enrolment_url"])
    shown = page.locator("#certificates").inner_text()
    assert old in shown and new in shown
    # the authentication certificate on the registry token, renewed there with its PIN
    on_token = state["token_serial"]
    page.get_by_label("Certyfikat do odnowienia").select_option(on_token)
    page.get_by_label(re.compile("^PIN tokenu z rejestru")).fill("999999")
    page.get_by_role("button", name="Odnów certyfikat").click()
    assert_field_error(page, "renew-pin", "Nieprawidłowy PIN tokenu.")
    check_page(page, "o09b-renew-wrong-pin")
    page.get_by_label("Certyfikat do odnowienia").select_option(on_token)
    page.get_by_label(re.compile("^PIN tokenu z rejestru")).fill(BLANK_PIN)
    page.get_by_role("button", name="Odnów certyfikat").click()
    page.wait_for_url(re.compile(r"/enrolments/\d+/issued"))
    assert on_token in page.locator("#renewed").inner_text()
    assert "(klucz: ten sam)" in page.locator("#renewed").inner_text()
    renewed = re.findall(r"[0-9a-f]{16,}", page.locator("#issued").inner_text())[0]
    assert ocsp_answer(site, on_token).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert ocsp_answer(site, renewed).certificate_status == ocsp.OCSPCertStatus.GOOD
    check_page(page, "o09c-renewed-on-token")
    page.context.close()


def test_token_page_forms_say_their_errors_next_to_their_fields(site, browser):
    state = site["state"]
    if "enrolment_url" not in state:
        pytest.skip("needs the staff member's token from the first test")
    page = new_page(browser)
    login(page, site, "urzednik_zg", "officer")
    page.goto(state["enrolment_url"])
    page.get_by_role("link", name=BLANK_LABEL).click()
    assert page.locator("#token-state").inner_text() == "w użyciu"
    check_page(page, "o19-staff-token")
    token_url = page.url
    page.get_by_role("button", name="Odblokuj", exact=True).click()  # both PINs missing
    assert_field_error(page, "so_pin", "Podaj PIN SO (PUK).")
    assert_field_error(page, "new_pin", "Podaj nowy PIN.", focused=False)
    check_page(page, "o20-token-unblock-error")
    page.get_by_label("PIN SO (PUK)").fill("00000000")  # not this token's SO PIN
    page.get_by_label("Nowy PIN użytkownika").fill("135790")
    page.get_by_role("button", name="Odblokuj", exact=True).click()
    assert_field_error(page, "so_pin", "Nieprawidłowy PIN SO (PUK).")
    page.goto(token_url)
    page.get_by_role("button", name="Wymień", exact=True).click()
    assert_field_error(page, "token_label", "Podaj etykietę tokenu.")
    check_page(page, "o21-token-replace-error")
    page.context.close()


def _wrong_check_digit(p: str) -> str:
    return p[:-1] + str((int(p[-1]) + 1) % 10)


def _staff_csv() -> bytes:
    rows = ["imię;nazwisko;PESEL;e-mail;stanowisko;profile;JST",
            f"Anna;Kowalska;{pesel(1, '800301')};anna.k@um.example;referent;staff-signing;{JST}",
            f"Jan;Nowak;{_wrong_check_digit(pesel(2, '800301'))};;;staff-signing;{JST}",
            f"Ewa;Zając;{pesel(3, '800301')};;;staff-signing staff-authentication;{JST}",
            f"Piotr;Wójcik;{pesel(4, '800301')};;;staff-signing;{OTHER_JST}",
            f"Józef;Łęcki;{pesel(5, '800301')};;;staff-magic;{JST}"]
    return ("\n".join(rows) + "\n").encode()


def test_bulk_import_names_the_bad_rows_and_imports_once(site, browser):
    ctx = site["ctx"]
    body = _staff_csv()
    page = new_page(browser)
    login(page, site, "urzednik_zg", "officer")
    page.get_by_role("link", name="Import pracowników z CSV").click()
    check_page(page, "o10-import")
    page.get_by_role("button", name=re.compile("Sprawdź plik")).click()  # no file
    assert_field_error(page, "file", "Wybierz plik CSV")
    check_page(page, "o11-import-error")
    page.get_by_label("Plik CSV").set_input_files(
        {"name": "pracownicy.csv", "mimeType": "text/csv", "buffer": body})
    before = count(ctx, Enrolment)
    page.get_by_role("button", name=re.compile("Sprawdź plik")).click()
    assert "Wierszy: 5; poprawnych: 2; z błędami: 3." in page.locator(
        "#import-summary").inner_text()
    problems = page.locator("#import-problems").inner_text()
    assert "nieprawidłowy PESEL" in problems and "nieznany profil „staff-magic”" in problems
    assert "nie należy do Twojego zakresu" in problems
    lines = [int(n) for n in re.findall(r"^(\d+)\t", problems, re.M)]
    assert lines == [3, 5, 6], problems
    assert count(ctx, Enrolment) == before  # a dry run writes nothing
    check_page(page, "o12-import-dry-run")
    click_twice(page, site, "Zaimportuj 2 poprawne wiersze", "/enrolments/import/confirm")
    page.wait_for_url(re.compile(r"/enrolments/import/done"))
    assert "Zaimportowano 2 z 5 wierszy (pominięto 3)" in page.locator(
        "#import-result").inner_text()
    page.reload()
    assert "Zaimportowano 2 z 5" in page.locator("#import-result").inner_text()
    assert count(ctx, Enrolment) == before + 2
    check_page(page, "o13-import-done")
    # the same file a second time: its rows are enrolled already, nothing is added
    page.goto(site["url"] + "/enrolments/import")
    page.get_by_label("Plik CSV").set_input_files(
        {"name": "pracownicy.csv", "mimeType": "text/csv", "buffer": body})
    page.get_by_role("button", name=re.compile("Sprawdź plik")).click()
    assert "poprawnych: 0" in page.locator("#import-summary").inner_text()
    assert not page.get_by_role("button", name=re.compile("^Zaimportuj")).count()
    check_page(page, "o13b-import-again")
    assert count(ctx, Enrolment) == before + 2
    page.context.close()


def _walk_pages(page, first_url: str, row_selector: str) -> tuple[list[str], str]:
    """Every row's text over all pages (following "Następna"), and the total line."""
    page.goto(first_url)
    total = page.locator("#total").inner_text()
    rows: list[str] = []
    while True:
        rows += page.locator(row_selector).all_inner_texts()
        following = page.get_by_role("link", name="Następna")
        if not following.count():
            return rows, total
        following.click()


def test_enrolment_list_walks_to_page_two_without_repeating_a_row(site, browser):
    ctx = site["ctx"]
    ra = registration_authority(ctx)
    for n in range(55):
        enrol.record(ra, enrol.Applicant("staff", JST, "Pracownik", f"Stronicowany {n:02d}",
                                         pesel=pesel(n, "900101")), "officer:urzednik_zg", (JST,))
    total = count(ctx, Enrolment)
    assert total > 50
    page = new_page(browser)
    login(page, site, "urzednik_zg", "officer")
    page.goto(site["url"] + "/enrolments")
    assert page.locator("#total").inner_text().startswith(f"{total} wnios")
    assert f"1–50 z {total}" in page.locator("#total").inner_text()
    check_page(page, "o14-enrolments-page-1")
    page.get_by_role("navigation", name="Strony wyników").get_by_role("link", name="2").click()
    assert "page=2" in page.url
    assert f"51–{total} z {total}" in page.locator("#total").inner_text()
    assert page.locator("[aria-current=page]").inner_text() == "2"
    check_page(page, "o15-enrolments-page-2")
    rows, _ = _walk_pages(page, site["url"] + "/enrolments", "table tbody tr")
    numbers = [r.split()[0] for r in rows]
    assert len(numbers) == total and len(set(numbers)) == total
    page.context.close()


def test_expiring_list_pages_and_the_notice_address_form(site, browser):
    ctx = site["ctx"]
    ra = registration_authority(ctx)
    for n in range(52):
        e, _ = enrol.record(ra, enrol.Applicant("staff", JST, "Wygasający", f"Pracownik {n:02d}",
                                                pesel=pesel(n, "850505")),
                            "officer:urzednik_zg", (JST,))
        enrol.issue_from_csr(ra, e.id, "staff-signing", make_csr(new_key()),
                             "officer:urzednik_zg", (JST,))
    ctx.clock.advance(days=730 - 10)  # these end in ten days; the log-in starts anew
    page = new_page(browser)
    login(page, site, "urzednik_zg", "officer")
    page.goto(site["url"] + "/enrolments")
    page.get_by_role("link", name="Wygasające certyfikaty").click()
    total_line = page.locator("#total").inner_text()
    expiring = int(re.search(r"(\d+)$", total_line)[1])
    assert expiring >= 52, total_line
    listed = page.locator("#expiring").inner_text()
    assert "Podpis pracownika JST" in listed and "staff-signing" not in listed  # Polish titles
    check_page(page, "o16-expiring")
    rows, _ = _walk_pages(page, page.url, "#expiring tbody tr")
    serials = [re.search(r"[0-9a-f]{16,}", r)[0] for r in rows]
    assert len(serials) == expiring and len(set(serials)) == expiring
    page.goto(site["url"] + "/expiring?page=2")
    assert page.locator("[aria-current=page]").inner_text() == "2"
    check_page(page, "o17-expiring-page-2")
    page.get_by_label("Adres e-mail do powiadomień").fill("to nie adres")
    page.get_by_role("button", name="Zapisz adres").click()
    assert_field_error(page, "email", "To nie jest poprawny adres e-mail.")
    assert page.get_by_label("Adres e-mail do powiadomień").input_value() == "to nie adres"
    pages = page.get_by_role("navigation", name="Strony wyników").get_by_role("link", name="2")
    assert pages.get_attribute("href").startswith("/expiring?")  # not the form's address
    check_page(page, "o18-expiring-address-error")
    # the certificate list too: every certificate once over its pages
    rows, total_line = _walk_pages(page, site["url"] + "/certificates", "table tbody tr")
    listed = [re.search(r"[0-9a-f]{16,}", r)[0] for r in rows]
    assert len(listed) == int(re.search(r"(\d+)$", total_line)[1]) > 50
    assert len(set(listed)) == len(listed)
    check_page(page, "o22-certificates-last-page")
    page.context.close()
