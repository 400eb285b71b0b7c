"""End to end in a real browser (Debian's Chromium driven by Playwright): an officer enrols a
resident onto a SoftHSM2 token, the resident collects the certificate with the pickup code,
and an auditor finds the issuance in the log. axe-core runs in each main page; screenshots go
to tests/artifacts/ (not versioned)."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from conftest import RESIDENT, make_home
from tokens import make_token
from webclient import PASSWORD, add_staff, next_totp

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
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer,
                         handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ARTIFACTS.mkdir(exist_ok=True)
    yield {"url": f"http://127.0.0.1:{server.server_port}", "ctx": ctx, "token": token,
           "secrets": secrets_, "state": {}}
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


def _check_accessibility(page, name: str) -> None:
    """axe-core in the page: no serious or critical violation (WCAG 2.1 AA rules included)."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    results = axe_api.Axe().run(page, options={
        "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                              "best-practice"]}})
    bad = [f"{v['id']} ({v['impact']}): {v['help']} at "
           f"{[n['target'] for n in v['nodes']][:3]}"
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(bad)


def _login(page, site, username: str, who: str) -> None:
    page.goto(site["url"] + "/login")
    _check_accessibility(page, "01-login")
    page.get_by_label("Nazwa użytkownika").fill(username)
    page.get_by_label("Hasło").fill(PASSWORD)
    page.get_by_role("button", name="Dalej").click()
    code = next_totp(site["ctx"], site["secrets"][who])
    page.get_by_label(re.compile("Kod z aplikacji")).fill(code)
    page.get_by_role("button", name="Zaloguj").click()


def test_officer_enrols_a_resident_onto_a_softhsm2_token(site, browser):
    page = _page(browser)
    _login(page, site, "urzednik_zg", "officer")
    page.get_by_role("link", name="Nowy wniosek").first.click()
    _check_accessibility(page, "02-new-enrolment")
    page.get_by_label(re.compile("^Rodzaj wnioskodawcy")).select_option("resident")
    page.get_by_label("Imię").fill(RESIDENT["given_name"])
    page.get_by_label("Nazwisko").fill(RESIDENT["surname"])
    page.get_by_label("PESEL").fill(RESIDENT["pesel"])
    page.get_by_label("Rodzaj dokumentu tożsamości").select_option("IDC")
    page.get_by_label("Numer dokumentu").fill("ABC123456")
    page.get_by_label("Adres e-mail").fill(RESIDENT["email"])
    page.get_by_label(re.compile("^Hasło do unieważnienia")).fill("moje-tajne-haslo")
    page.get_by_role("button", name="Zapisz wniosek").click()
    code = page.locator("#pickup-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", code)
    site["state"]["pickup_code"] = code
    _check_accessibility(page, "03-recorded")
    page.get_by_role("link", name=re.compile("wydaj certyfikat")).click()
    _check_accessibility(page, "04-enrolment")
    for profile in BOTH:
        page.get_by_label(re.compile(f"^{profile}:")).check()
    page.get_by_label("Etykieta tokenu").fill(site["token"].label)
    page.get_by_label("PIN użytkownika tokenu").fill(site["token"].pin)
    page.get_by_role("button", name=re.compile("Generuj klucze")).click()
    issued = page.locator("#issued li")
    assert issued.count() == 2
    site["state"]["serials"] = re.findall(r"[0-9a-f]{16,}", page.locator("#issued").inner_text())
    _check_accessibility(page, "05-issued")
    # the token itself, judged by pkcs11-tool: two keys, never extractable, with certificates
    objects = site["token"].objects()
    keys = [o for o in objects if o["kind"].startswith("Private Key")]
    certs = {o["id"] for o in objects if o["kind"].startswith("Certificate")}
    assert len(keys) == 2 and all("never extractable" in k["access"] for k in keys)
    assert {k["id"] for k in keys} <= certs
    page.context.close()


def test_resident_collects_the_certificate_with_the_pickup_code(site, browser):
    code = site["state"].get("pickup_code")
    if code is None:
        pytest.skip("needs the officer's enrolment from the test before")
    page = _page(browser)
    page.goto(site["url"] + "/")
    _check_accessibility(page, "06-home")
    page.get_by_role("link", name="Wpisz kod odbioru").click()
    _check_accessibility(page, "07-pickup")
    page.get_by_label("Kod odbioru").fill(code)
    page.get_by_role("button", name="Dalej").click()
    assert page.get_by_role("heading", name="Moje certyfikaty").is_visible()
    _check_accessibility(page, "08-my-certificates")
    with page.expect_download() as download:
        page.get_by_role("link", name="PEM resident-signing").click()
    pem = Path(download.value.path()).read_bytes()
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    shutil.copy(download.value.path(), ARTIFACTS / "resident-signing.crt")
    # the code worked once; a second visitor using it is turned away
    other = _page(browser)
    other.goto(site["url"] + "/pickup")
    other.get_by_label("Kod odbioru").fill(code)
    other.get_by_role("button", name="Dalej").click()
    assert "już użyty" in other.locator("[role=alert]").inner_text()
    page.goto(site["url"] + "/my?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    _check_accessibility(page, "09-my-certificates-en")
    page.context.close()
    other.context.close()


def test_auditor_finds_the_issuance_in_the_log(site, browser):
    serials = site["state"].get("serials")
    if not serials:
        pytest.skip("needs the officer's enrolment from the first test")
    page = _page(browser)
    _login(page, site, "audytor_woj", "auditor")
    page.get_by_label("Urzędnik (login)").fill("urzednik_zg")
    page.get_by_label(re.compile("^Rodzaj zdarzenia")).fill("certificate.issue")
    page.get_by_role("button", name="Filtruj").click()
    for serial in serials:
        assert page.get_by_role("link", name=f"certificate:{serial}").is_visible()
    assert "nienaruszony" in page.locator("#chain-status").inner_text()
    _check_accessibility(page, "10-audit")
    page.get_by_role("link", name=f"certificate:{serials[0]}").click()
    assert "token.personalise" in page.content() or "certificate.issue" in page.content()
    _check_accessibility(page, "11-certificate-history")
    page.get_by_role("link", name="Tokeny").click()
    assert page.get_by_role("cell", name=site["token"].label).is_visible()
    _check_accessibility(page, "12-token-registry")
    page.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    assert page.locator("#token-state").inner_text() == "active"
    _check_accessibility(page, "13-token")
    page.context.close()
