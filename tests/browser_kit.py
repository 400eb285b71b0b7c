"""The browser walks' shared parts: a served home (an officer of gmina 0862011 and a
voivodeship auditor, a SoftHSM2 token at the station), Debian's Chromium under Playwright, and
the checks every page passes: axe-core finds no violation and nothing scrolls sideways at 375
and 320 CSS pixels. Modules import the fixtures they use; each module gets its own home."""


from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from conftest import RESIDENT, make_home
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from revocation_support import post_ocsp
from sqlalchemy import func, select
from tokens import make_token
from webclient import PASSWORD, add_staff, next_totp

from ca.store import certificates as cert_store
from regca.wsgi import create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"

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


def serve_site(tmp_path_factory):
    """The served home, for a module-scoped ``site`` fixture to yield from."""
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
    yield {"url": f"http://127.0.0.1:{server.server_port}", "ctx": ctx, "app": app, "token": token,
           "secrets": secrets_, "state": {}, "posts": posts, "slow": slow}
    server.shutdown()
    ctx.db.dispose()


def launch_browser():
    """Chromium, for a module-scoped ``browser`` fixture to yield from."""
    with playwright_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as exc:  # no display libraries, sandbox refused...
            pytest.skip(f"Chromium did not start here: {exc}".splitlines()[0])
        yield b
        b.close()


def new_page(browser):
    context = browser.new_context(locale="pl-PL", accept_downloads=True)
    return context.new_page()


WIDTHS = (375, 320)  # a phone, and WCAG 1.4.10's reflow width


def check_page(page, name: str) -> None:
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


def login(page, site, username: str, who: str) -> None:
    page.goto(site["url"] + "/login")
    check_page(page, "01-login")
    page.get_by_label("Nazwa użytkownika").fill(username)
    page.get_by_label("Hasło").fill(PASSWORD)
    page.get_by_role("button", name="Dalej").click()
    code = next_totp(site["ctx"], site["secrets"][who])
    page.get_by_label(re.compile("Kod z aplikacji")).fill(code)
    page.get_by_role("button", name="Zaloguj").click()


def field_error(page, label) -> str:
    """The error shown for the field labelled ``label``, which must be bound to it: the field
    says it is invalid and is described by the error (WCAG 3.3.1). The error's text."""
    field = page.get_by_label(label)
    assert field.get_attribute("aria-invalid") == "true", f"{label}: not marked invalid"
    described = (field.get_attribute("aria-describedby") or "").split()
    errors = [i for i in described if i.endswith("-error")]
    assert errors, f"{label}: no error bound to the field ({described})"
    return page.locator(f"#{errors[0]}").inner_text()


def download(page, link) -> bytes:
    """The file behind a link (a locator), downloaded as a person would."""
    with page.expect_download() as got:
        link.click()
    return Path(got.value.path()).read_bytes()


def count(ctx, *what) -> int:
    with ctx.db.reading() as s:
        return s.execute(select(func.count()).select_from(*what)).scalar_one()


def click_twice(page, site, button: str, path: str) -> None:
    """A person's double click on a form's button while the server is slow to answer: two
    clicks 200 ms apart, and both submissions reach the server (the browser drops the first
    answer and shows the second); returns once the second answer is the page shown."""
    sent = site["posts"].count(path)
    site["slow"].set()
    try:
        page.get_by_role("button", name=button).evaluate(
            "b => { window.__clickedTwice = true; b.click(); setTimeout(() => b.click(), 200); }")
        # the first navigation is aborted by the second: poll the server, then the address
        for _ in range(200):
            if site["posts"].count(path) - sent >= 2:
                break
            page.wait_for_timeout(50)
    finally:
        site["slow"].clear()
    # the page the browser ends on is a new document (the second answer), whatever its address
    page.wait_for_function("() => !window.__clickedTwice", timeout=15000)
    page.wait_for_load_state()
    assert site["posts"].count(path) - sent == 2, site["posts"][-4:]


def fill_applicant(page, pesel: str) -> None:
    page.get_by_label(re.compile("^Rodzaj wnioskodawcy")).select_option("resident")
    page.get_by_label("Imię").fill(RESIDENT["given_name"])
    page.get_by_label("Nazwisko").fill(RESIDENT["surname"])
    page.get_by_label("PESEL").fill(pesel)
    page.get_by_label("Rodzaj dokumentu tożsamości").select_option("IDC")
    page.get_by_label("Numer dokumentu").fill("ABC123456")
    page.get_by_label("Adres e-mail").fill(RESIDENT["email"])
    page.get_by_label(re.compile("^Hasło do unieważnienia")).fill("moje-tajne-haslo")




def download_pdf_text(page, click) -> str:
    """Click what downloads a PDF (``click``: a no-argument callable) and read the file back
    with poppler's pdftotext, the way a clerk's viewer would."""
    with page.expect_download() as download:
        click()
    body = Path(download.value.path()).read_bytes()
    assert body.startswith(b"%PDF-"), body[:40]
    (ARTIFACTS / download.value.suggested_filename).write_bytes(body)
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=body, capture_output=True,
                          check=True)
    return done.stdout.decode()


# WTForms' and Flask-WTF's own messages: English, never to be shown on a Polish page
WTFORMS_ENGLISH = ("This field is required", "Not a valid", "Field must be", "Invalid input",
                   "Field cannot be longer", "The CSRF token")


def assert_field_error(page, field_id: str, words: str, focused: bool = True) -> None:
    """The error sits next to field ``field_id`` and is bound to it (aria-invalid, and
    aria-describedby naming the element that says ``words``); with ``focused``, the field (the
    first in error) has the focus. No WTForms English anywhere on the page."""
    text = page.locator("body").inner_text()
    assert not [w for w in WTFORMS_ENGLISH if w in text], text
    field = page.locator(f"#{field_id}")
    assert field.get_attribute("aria-invalid") == "true", field_id
    described = (field.get_attribute("aria-describedby") or "").split()
    said = " ".join(page.locator(f"#{d}").inner_text() for d in described)
    assert words in said, f"{field_id}: {said!r}"
    if focused:
        assert_focused(page, field_id)


def assert_focused(page, element_id: str) -> None:
    """The element has the focus; ``autofocus`` is applied at the browser's next rendering
    update after load (HTML "flush autofocus candidates"), so wait a moment for it."""
    try:
        page.wait_for_function("id => document.activeElement && document.activeElement.id === id",
                               arg=element_id, timeout=5000)
    except playwright_api.TimeoutError:
        focused = page.evaluate("document.activeElement && document.activeElement.id")
        raise AssertionError(f"the focus is on {focused!r}, not {element_id!r}") from None


def ocsp_answer(site, serial: str) -> ocsp.OCSPResponse:
    """What the served ``/ocsp`` answers of a certificate in the home's store (its row opened
    as the store keeps it: sealed when its subject names a PESEL)."""
    ctx = site["ctx"]
    with ctx.db.reading() as s:
        cert = x509.load_der_x509_certificate(
            cert_store.der_of(ctx.fields, serial, cert_store.get(s, serial).der))
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, ctx.chain()[0], hashes.SHA1()).build()
    status, _, body = post_ocsp(site["url"], req.public_bytes(Encoding.DER))
    assert status == 200
    answer = ocsp.load_der_ocsp_response(body)
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return answer
