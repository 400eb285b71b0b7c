"""The office's printables through the composed WSGI app, read back with pdftotext (poppler):
the application form, the handover protocol and the pickup-code slip name the person, the JST
and the date in Polish letters; only the application form carries the PESEL; a sealed secret
prints only for the officer it was made for and only while it is fresh. The TOTP set-up page
shows a QR code."""

from __future__ import annotations

import io
import re
import subprocess
from zoneinfo import ZoneInfo

import pytest
from conftest import make_csr
from webclient import PASSWORD, Visitor, add_staff, pickup_code

from ra.users import create_user
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm

JST, JST_NAME = "0862011", "Gmina Miasto Zielona Góra"
APPLICANT = {"given_name": "Łucja", "surname": "Źdźbło-Gęślarz", "pesel": "02270803624",
             "email": "lucja@example.pl", "document_type": "IDC", "document_number": "ABC123458"}


@pytest.fixture(scope="module")
def web(home):
    ctx = home
    secrets_ = {name: add_staff(ctx, name, role, orgs) for name, role, orgs in (
        ("druk_a", "officer", [JST]), ("druk_b", "officer", [JST]),
        ("druk_obcy", "officer", ["0861011"]),
        ("druk_audyt", "auditor", []))}
    app = create_app(ctx.settings.home, ctx)
    return ctx, app, secrets_


def login(web, who) -> Visitor:
    ctx, app, secrets_ = web
    return Visitor(app, ctx).login(who, secrets_[who])


def pdf_text(response) -> str:
    assert response.status_code == 200, response.text[:500]
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF-")
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=response.data,
                          capture_output=True, check=True)
    return done.stdout.decode()


def today(ctx) -> str:
    return ctx.now().astimezone(ZoneInfo("Europe/Warsaw")).strftime("%d.%m.%Y")


@pytest.fixture(scope="module")
def enrolled(web):
    """An applicant recorded by officer druk_a: (page with the pickup code, enrolment id)."""
    v = login(web, "druk_a")
    r = v.post("/enrolments/new", {"kind": "resident", "organization_teryt": JST,
                                   "revocation_password": "haslo-do-uniewaznienia", **APPLICANT})
    assert r.status_code == 200, r.text
    return r.text, int(re.search(r'href="/enrolments/(\d+)"', r.text)[1])


def _sealed(page: str, form_id: str) -> str:
    form = re.search(rf'<form [^>]*id="{form_id}">(.*?)</form>', page, re.S)[1]
    return re.search(r'name="sealed" type="hidden" value="([^"]+)"', form)[1]


def test_application_form_is_prefilled_with_pesel_jst_and_date(web, enrolled):
    ctx = web[0]
    _, enrolment_id = enrolled
    text = pdf_text(login(web, "druk_a").get(f"/enrolments/{enrolment_id}/wniosek.pdf"))
    assert f"Wniosek o wydanie certyfikatu nr {enrolment_id}" in text
    for expected in ("Łucja", "Źdźbło-Gęślarz", APPLICANT["pesel"], "dowód osobisty ABC123458",
                     JST_NAME, f"Data: {today(ctx)}", "resident-signing",
                     "Data i czytelny podpis wnioskodawcy"):
        assert expected in text, expected


def test_pickup_slip_prints_the_code_without_the_pesel(web, enrolled):
    ctx = web[0]
    page, _ = enrolled
    code = pickup_code(page)
    assert code not in _sealed(page, "pickup-slip")
    v = login(web, "druk_a")
    text = pdf_text(v.post("/printouts/pickup-slip", {"sealed": _sealed(page, "pickup-slip")},
                           form_page="/enrolments"))
    assert code in text and "Łucja Źdźbło-Gęślarz" in text and JST_NAME in text
    assert f"Data: {today(ctx)}" in text and "/pickup" in text
    assert APPLICANT["pesel"] not in text and APPLICANT["pesel"][:6] not in text


def test_handover_protocol_lists_the_certificates_without_the_pesel(web, enrolled):
    ctx = web[0]
    _, enrolment_id = enrolled
    v = login(web, "druk_a")
    r = v.post(f"/enrolments/{enrolment_id}/csr",
               {"profile": "resident-signing", "csr": (io.BytesIO(make_csr()), "req.pem")},
               form_page=f"/enrolments/{enrolment_id}")
    serial = re.search(r"<code>([0-9a-f]+)</code>", r.text)[1]
    assert f"/enrolments/{enrolment_id}/protokol.pdf" in r.text
    text = pdf_text(v.get(f"/enrolments/{enrolment_id}/protokol.pdf"))
    assert f"Protokół wydania nr {enrolment_id}" in text
    assert serial in text and "resident-signing" in text and "druk_a" in text
    assert "Łucja Źdźbło-Gęślarz" in text and JST_NAME in text
    assert f"Data: {today(ctx)}" in text
    assert APPLICANT["pesel"] not in text


def test_a_sealed_slip_prints_only_for_its_officer_and_only_while_fresh(web, enrolled):
    ctx = web[0]
    page, _ = enrolled
    sealed = _sealed(page, "pickup-slip")
    other = login(web, "druk_b")
    assert other.post("/printouts/pickup-slip", {"sealed": sealed},
                      form_page="/enrolments").status_code == 410
    forged = sealed[:-6] + ("AAAAAA" if not sealed.endswith("AAAAAA") else "BBBBBB")
    mine = login(web, "druk_a")
    assert mine.post("/printouts/pickup-slip", {"sealed": forged},
                     form_page="/enrolments").status_code == 410
    ctx.clock.advance(minutes=31)
    mine = login(web, "druk_a")
    assert mine.post("/printouts/pickup-slip", {"sealed": sealed},
                     form_page="/enrolments").status_code == 410


@pytest.mark.parametrize("who", ["druk_audyt", "druk_obcy"])
def test_an_auditor_or_another_jsts_officer_cannot_print(web, enrolled, who):
    _, enrolment_id = enrolled
    v = login(web, who)
    for path in ("wniosek.pdf", "protokol.pdf"):
        assert v.get(f"/enrolments/{enrolment_id}/{path}").status_code == 403


def test_totp_setup_shows_a_qr_code_of_the_otpauth_uri(web):
    ctx, app, _ = web
    create_user(ctx, "druk_nowy", PASSWORD, "officer", [JST], actor="test")
    v = Visitor(app, ctx)
    v.post("/login", {"username": "druk_nowy", "password": PASSWORD})
    page = v.get("/login/totp-setup")
    assert page.status_code == 200
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)[1]
    assert f"secret={secret}" in page.text
    svg = re.search(r'<figure id="totp-qr">(<svg [^>]*class="totp-qr".*?</svg>)</figure>',
                    page.text, re.S)
    assert svg and "<title>Kod QR klucza TOTP</title>" in svg[1] and 'class="qrline"' in svg[1]
    assert "script" not in svg[1]
