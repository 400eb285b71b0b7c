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
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from zoneinfo import ZoneInfo

import pytest
from conftest import RESIDENT, make_home
from sqlalchemy import func, select
from tokens import make_token
from webclient import PASSWORD, add_staff, next_totp

from ca.store.models import Certificate, Enrolment
from regca.wsgi import create_app

pytestmark = [pytest.mark.browser, pytest.mark.hsm]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"
BOTH = ("resident-signing", "resident-authentication")

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
axe_api = pytest.importorskip("axe_playwright_python.sync_playwright",
                              reason="axe-playwright-python not installed")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (make install adds it)",
                allow_module_level=True)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    ctx = make_home(tmp / "home")
    token = make_token(tmp / "station", label="Karta mieszkanca")
    secrets_ = {"officer": add_staff(ctx, "urzednik_zg", "officer", ["0862011"]),
                "auditor": add_staff(ctx, "audytor_woj", "auditor")}
    app = create_app(ctx.settings.home, ctx)
    web = app.fallback
    web.config["WEB_SETTINGS"].token_softhsm_conf = str(token.conf)
    posts: list[str] = []
    slow = threading.Event()

    def counted(environ, start_response):
        """The app, noting each POST's path (the double-click checks see both requests) and,
        while ``slow`` is set, answering a POST late, as over an office's network."""
        if environ["REQUEST_METHOD"] == "POST":
            posts.append(environ["PATH_INFO"])
            if slow.is_set():
                time.sleep(1.5)
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, counted, server_class=_ThreadingServer,
                         handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ARTIFACTS.mkdir(exist_ok=True)
    yield {"url": f"http://127.0.0.1:{server.server_port}", "ctx": ctx, "token": token,
           "secrets": secrets_, "state": {}, "posts": posts, "slow": slow}
    server.shutdown()
    ctx.db.dispose()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as exc:  # no display libraries, sandbox refused...
            pytest.skip(f"Chromium did not start here: {exc}".splitlines()[0])
        yield b
        b.close()


def _page(browser):
    context = browser.new_context(locale="pl-PL", accept_downloads=True)
    return context.new_page()


WIDTHS = (375, 320)  # a phone, and WCAG 1.4.10's reflow width


def _check_page(page, name: str) -> None:
    """axe-core finds no violation (WCAG 2.1 A/AA and best practice), and at each of WIDTHS
    the page reflows: the document is never wider than the window."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    results = axe_api.Axe().run(page, options={
        "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                              "best-practice"]}})
    bad = [f"{v['id']} ({v['impact']}): {v['help']} at "
           f"{[n['target'] for n in v['nodes']][:3]}" for v in results.response["violations"]]
    assert not bad, f"{name}: " + "; ".join(bad)
    size = page.viewport_size
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            scroll, client = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            if width == WIDTHS[-1]:
                page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
            assert scroll <= client, f"{name} at {width}px scrolls sideways ({scroll} > {client})"
    finally:
        page.set_viewport_size(size)


def _login(page, site, username: str, who: str) -> None:
    page.goto(site["url"] + "/login")
    _check_page(page, "01-login")
    page.get_by_label("Nazwa użytkownika").fill(username)
    page.get_by_label("Hasło").fill(PASSWORD)
    page.get_by_role("button", name="Dalej").click()
    code = next_totp(site["ctx"], site["secrets"][who])
    page.get_by_label(re.compile("Kod z aplikacji")).fill(code)
    page.get_by_role("button", name="Zaloguj").click()


def _count(ctx, *what) -> int:
    with ctx.db.reading() as s:
        return s.execute(select(func.count()).select_from(*what)).scalar_one()


def _click_twice(page, site, button: str, path: str) -> None:
    """A person's double click on a form's button while the server is slow to answer: two
    clicks 200 ms apart, and both submissions reach the server (the browser drops the first
    answer and shows the second)."""
    sent = site["posts"].count(path)
    site["slow"].set()
    try:
        page.get_by_role("button", name=button).evaluate(
            "b => { b.click(); setTimeout(() => b.click(), 200); }")
        # the first navigation is aborted by the second: poll the server, then the address
        for _ in range(200):
            if site["posts"].count(path) - sent >= 2:
                break
            page.wait_for_timeout(50)
    finally:
        site["slow"].clear()
    for _ in range(300):
        if not page.url.split("?")[0].endswith(path):
            break
        page.wait_for_timeout(50)
    assert site["posts"].count(path) - sent == 2, site["posts"][-4:]


def _fill_applicant(page, pesel: str) -> None:
    page.get_by_label(re.compile("^Rodzaj wnioskodawcy")).select_option("resident")
    page.get_by_label("Imię").fill(RESIDENT["given_name"])
    page.get_by_label("Nazwisko").fill(RESIDENT["surname"])
    page.get_by_label("PESEL").fill(pesel)
    page.get_by_label("Rodzaj dokumentu tożsamości").select_option("IDC")
    page.get_by_label("Numer dokumentu").fill("ABC123456")
    page.get_by_label("Adres e-mail").fill(RESIDENT["email"])
    page.get_by_label(re.compile("^Hasło do unieważnienia")).fill("moje-tajne-haslo")


def test_officer_enrols_once_however_often_the_form_is_sent(site, browser):
    ctx = site["ctx"]
    page = _page(browser)
    _login(page, site, "urzednik_zg", "officer")
    page.get_by_role("link", name="Nowy wniosek").first.click()
    _check_page(page, "02-new-enrolment")
    # a PESEL with a wrong check digit: said in Polish, next to the field, which takes focus
    _fill_applicant(page, RESIDENT["pesel"][:-1] + "5")
    page.get_by_role("button", name="Zapisz wniosek").click()
    pesel = page.get_by_label("PESEL")
    assert pesel.get_attribute("aria-invalid") == "true"
    assert "pesel-error" in pesel.get_attribute("aria-describedby").split()
    error = page.locator("#pesel-error").inner_text()
    assert "PESEL jest nieprawidłowy" in error and "checksum" not in page.content()
    assert page.evaluate("document.activeElement.id") == "pesel"
    _check_page(page, "02b-new-enrolment-error")
    # a double click sends the form twice; one enrolment, and a reload changes nothing
    before = _count(ctx, Enrolment)
    _fill_applicant(page, RESIDENT["pesel"])
    _click_twice(page, site, "Zapisz wniosek", "/enrolments/new")
    page.wait_for_url(re.compile(r"/enrolments/\d+/recorded"))
    code = page.locator("#pickup-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", code)
    page.reload()
    assert page.locator("#pickup-code").inner_text() == code
    assert _count(ctx, Enrolment) == before + 1
    site["state"]["pickup_code"] = code
    _check_page(page, "03-recorded")
    page.get_by_role("link", name=re.compile("wydaj certyfikat")).click()
    enrolment_url = page.url
    _check_page(page, "04-enrolment")
    for title in ("Podpis mieszkańca", "Uwierzytelnienie mieszkańca"):
        page.get_by_label(title).check()
    page.get_by_label("Etykieta tokenu").fill(site["token"].label)
    page.get_by_label("PIN użytkownika tokenu").fill(site["token"].pin)
    certificates_before = _count(ctx, Certificate)
    page.get_by_role("button", name=re.compile("Generuj klucze")).click()
    issued = page.locator("#issued li")
    assert issued.count() == 2 and "Wydano 2 certyfikaty." in page.locator("#success").inner_text()
    serials = re.findall(r"[0-9a-f]{16,}", page.locator("#issued").inner_text())
    page.reload()  # "Wydano" again: the same two, nothing issued anew
    assert re.findall(r"[0-9a-f]{16,}", page.locator("#issued").inner_text()) == serials
    assert _count(ctx, Certificate) == certificates_before + 2
    site["state"]["serials"] = serials
    _check_page(page, "05-issued")
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
    _check_page(page, "06-search")
    # revoke the authentication certificate, through its confirmation page
    page.goto(enrolment_url)
    page.get_by_role("link", name=re.compile(f"Unieważnij.*{serials[1]}")).click()
    assert "nie można cofnąć" in page.locator("#what-happens").inner_text()
    reasons = page.get_by_label("Powód unieważnienia").locator("option").all_inner_texts()
    assert "utrata lub kompromitacja klucza" in reasons and "keyCompromise" not in reasons
    _check_page(page, "07-revoke-confirm")
    page.get_by_label("Powód unieważnienia").select_option(label="zmiana danych")
    _click_twice(page, site, "Tak, unieważnij certyfikat", f"/certificates/{serials[1]}/revoke")
    page.wait_for_url(re.compile(r"/enrolments/\d+\?done="))
    assert "został unieważniony" in page.locator("#success").inner_text()
    assert "unieważniony (zmiana danych)" in page.locator("#certificates").inner_text()
    with ctx.db.reading() as s:
        row = s.get(Certificate, serials[1])
    assert (row.status, row.revocation_reason) == ("revoked", "affiliationChanged")
    _check_page(page, "08-enrolment-after-revoke")
    page.get_by_role("link", name="Tokeny").first.click()
    assert page.locator("#total").inner_text().startswith("1 token")
    _check_page(page, "09-token-registry")
    page.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    assert page.locator("#token-state").inner_text() == "w użyciu"
    _check_page(page, "10-token")
    page.get_by_role("link", name="Zgłoś utratę…").click()
    assert "utrata lub kompromitacja klucza" in page.locator("#what-happens").inner_text()
    _check_page(page, "11-token-report-lost")  # asked, not done: the token stays in use
    page.context.close()


def test_resident_collects_the_certificate_with_the_pickup_code(site, browser):
    code = site["state"].get("pickup_code")
    if code is None:
        pytest.skip("needs the officer's enrolment from the test before")
    page = _page(browser)
    page.goto(site["url"] + "/")
    _check_page(page, "12-home")
    page.get_by_role("link", name="Wpisz kod odbioru").click()
    _check_page(page, "13-pickup")
    page.get_by_label("Kod odbioru").fill(code)
    page.get_by_role("button", name="Dalej").click()
    assert page.get_by_role("heading", name="Moje certyfikaty").is_visible()
    _check_page(page, "14-my-certificates")
    with page.expect_download() as download:
        page.get_by_role("link", name="PEM Podpis mieszkańca").click()
    pem = Path(download.value.path()).read_bytes()
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    shutil.copy(download.value.path(), ARTIFACTS / "resident-signing.crt")
    page.get_by_role("link", name=re.compile("Unieważnij ten certyfikat")).click()
    assert "nie można cofnąć" in page.locator("#what-happens").inner_text()
    _check_page(page, "15-my-revoke-confirm")
    other = _page(browser)
    other.goto(site["url"] + "/pickup")
    other.get_by_label("Kod odbioru").fill(code)
    other.get_by_role("button", name="Dalej").click()
    assert "już użyty" in other.locator("[role=alert]").inner_text()
    page.goto(site["url"] + "/my?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    _check_page(page, "16-my-certificates-en")
    for path, name in (("/deklaracja-dostepnosci", "17-accessibility"),
                       ("/rodo", "18-rodo"), ("/polityka-certyfikacji", "19-cps")):
        page.goto(site["url"] + path)
        _check_page(page, name)
    page.context.close()
    other.context.close()


def test_auditor_filters_by_polish_event_names_and_exports_for_excel(site, browser):
    serials = site["state"].get("serials")
    if not serials:
        pytest.skip("needs the officer's enrolment from the first test")
    page = _page(browser)
    _login(page, site, "audytor_woj", "auditor")
    page.get_by_label("Urzędnik (login)").fill("urzednik_zg")
    page.get_by_label("Rodzaj zdarzenia").select_option(label="wydanie certyfikatu")
    page.get_by_role("button", name="Filtruj").click()
    for serial in serials:
        assert page.get_by_role("link", name=f"certificate:{serial}").is_visible()
    assert re.match(r"2 zdarzenia", page.locator("#total").inner_text())
    assert "nienaruszony" in page.locator("#chain-status").inner_text()
    _check_page(page, "20-audit")
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
    _check_page(page, "21-usage")
    page.go_back()
    page.get_by_role("link", name="Certyfikaty").first.click()
    assert re.match(r"\d+ certyfikat", page.locator("#total").inner_text())
    _check_page(page, "21b-certificates")
    page.go_back()
    page.get_by_role("link", name=f"certificate:{serials[0]}").click()
    assert "personalizacja tokenu" in page.content() or "wydanie certyfikatu" in page.content()
    assert RESIDENT["pesel"] not in page.content()
    _check_page(page, "22-certificate-history")
    page.context.close()
