"""Every page of the enrollment web in English (``?lang=en``) has no Polish left over, save the
data it shows (names, organisations, profile titles, the CSV's column names), the legal pages
published in Polish by law and the CP/CPS document as shipped; and the later office pages
count in the visitor's language with the catalogue's plural forms."""

from __future__ import annotations

import html
import io
import re

import pytest
from conftest import RESIDENT, make_csr
from webclient import Visitor, add_staff, issue_from_csr, record_enrolment

from ra import bulk_import
from ra.apikeys import create_api_key
from ra.organizations import list_organizations
from regca.roles import registration_authority
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm

JST = "0862011"
PASSWORD = "haslo-do-uniewaznienia"
# Polish letters, and the common Polish words that have none
_POLISH = re.compile(r"[ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]|\b(?:nie|jest|albo|oraz|lub|tak|wniosek|wnioski|"
                     r"wniosku|certyfikat|certyfikaty|Zapisz|Dodaj|Wybierz|Podaj|Popraw|Wyloguj|"
                     r"Zaloguj|Anuluj|Powrót|brak|dni|wierszy|pracownik|pracownicy)\b")
_LEGAL = ("/deklaracja-dostepnosci", "/rodo")  # published in Polish (their pages say so)


@pytest.fixture(scope="module")
def web(home_ctx):
    ctx = home_ctx
    secrets_ = {who: add_staff(ctx, who, role, orgs) for who, role, orgs in (
        ("officer_en", "officer", [JST]), ("admin_en", "administrator", []),
        ("auditor_en", "auditor", []))}
    app = create_app(ctx.settings.home, ctx)
    officer = _english(Visitor(app, ctx).login("officer_en", secrets_["officer_en"]))
    enrolment_id, code = record_enrolment(officer, {
        "kind": "resident", "organization_teryt": JST, "revocation_password": PASSWORD,
        **RESIDENT})
    serial = issue_from_csr(officer, enrolment_id, make_csr())
    return ctx, app, secrets_, officer, enrolment_id, code, serial


def _pesel(n: int) -> str:
    """A valid PESEL (born 1 March 1980, serial ``n``) with its check digit."""
    body = f"800301{n:04d}"
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    return body + str((10 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 10) % 10)


def _english(v: Visitor) -> Visitor:
    assert v.get("/?lang=en").status_code == 200
    return v


def _as(web, who: str) -> Visitor:
    ctx, app, secrets_ = web[:3]
    return _english(Visitor(app, ctx).login(who, secrets_[who]))


def _data(ctx) -> list[str]:
    """What a page may show in Polish because it is data, not the page's words."""
    words = [RESIDENT["given_name"], RESIDENT["surname"], "Polski"]
    for org in list_organizations(registration_authority(ctx)):
        words.append(org.name)
    words += [p.title for p in ctx.profiles]  # a profile's title names it in both languages
    for name, spellings, _ in bulk_import.COLUMNS.values():
        words += [name, *spellings]
    return sorted(words, key=len, reverse=True)


def _leftovers(ctx, page: str) -> list[str]:
    """The page's visible text (and its labels) that still reads as Polish."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    labels = " ".join(re.findall(r'(?:aria-label|title|alt|placeholder)="([^"]*)"', body))
    text = html.unescape(re.sub(r"<[^>]+>", "\n", body) + "\n" + labels)
    for word in _data(ctx):
        text = text.replace(word, " ")
    return [line.strip() for line in text.splitlines() if _POLISH.search(line)]


def _english_page(web, v: Visitor, path: str, status: int = 200) -> str:
    r = v.get(path)
    assert r.status_code == status, (path, r.status_code)
    assert '<html lang="en"' in r.text, path
    return r.text


def test_public_pages_in_english_have_no_polish_left(web):
    ctx, app = web[:2]
    v = _english(Visitor(app, ctx))
    for path in ("/", "/pickup", "/return", "/revoke", "/login"):
        assert _leftovers(ctx, _english_page(web, v, path)) == [], path
    assert _leftovers(ctx, _english_page(web, v, "/no-such-page", 404)) == []
    polish = Visitor(app, ctx).get("/pickup?lang=pl").text  # the check itself sees Polish
    assert len(_leftovers(ctx, polish)) >= 3


def test_officer_pages_in_english_have_no_polish_left(web):
    ctx, _, _, officer, enrolment_id, _, serial = web
    for path in ("/enrolments", "/enrolments/new", f"/enrolments/{enrolment_id}",
                 "/certificates", f"/certificates/{serial}/revoke", "/tokens", "/expiring",
                 "/enrolments/import"):
        assert _leftovers(ctx, _english_page(web, officer, path)) == [], path


def test_officer_form_answers_in_english_have_no_polish_left(web):
    ctx, _, _, officer, enrolment_id, _, _ = web
    csv = f"imię;nazwisko;PESEL;profile;JST\nJan;Nowak;{_pesel(5)};staff-signing;{JST}"
    answers = [
        officer.post("/enrolments/import", {"file": (io.BytesIO(csv.encode()), "p.csv")}),
        officer.post("/enrolments/import", {}),
        officer.post("/expiring/address", {"email": "nie adres"}, form_page="/expiring"),
        officer.post(f"/enrolments/{enrolment_id}/renew", {},
                     form_page=f"/enrolments/{enrolment_id}"),
    ]
    for r in answers:
        assert r.status_code in (200, 400), r.status_code
        assert _leftovers(ctx, r.text) == [], r.request.path
    saved = officer.post("/expiring/address", {"email": "kadry@example.pl"},
                         form_page="/expiring")
    assert saved.status_code == 303
    page = officer.get(saved.headers["Location"]).text
    assert 'id="success"' in page and _leftovers(ctx, page) == []


def test_administrator_pages_in_english_have_no_polish_left(web):
    ctx = web[0]
    admin = _as(web, "admin_en")
    key_id = create_api_key(ctx, "EOD", ["verify"], None).split("_")[1]
    for path in ("/admin", "/admin/users/officer_en", "/admin/api-keys", "/admin/units",
                 f"/admin/organizations/{JST}/edit", "/admin/users/officer_en/disable",
                 "/admin/users/officer_en/reset-password", "/admin/users/officer_en/reset-totp",
                 f"/admin/api-keys/{key_id}/revoke"):
        assert _leftovers(ctx, _english_page(web, admin, path)) == [], path
    done = admin.post(f"/admin/organizations/{JST}/edit", {"name": "Zielona Gora"},
                      form_page=f"/admin/organizations/{JST}/edit")
    refused = admin.post("/admin/users/officer_en/role", {"role": "officer"},
                         form_page="/admin/users/officer_en")
    assert refused.status_code == 400 and _leftovers(ctx, refused.text) == []
    for path, data in (("/admin/organizations", {"teryt": ""}),
                       ("/admin/users", {"username": "x", "role": "officer",
                                         "password": "p" * 12})):
        refused = admin.post(path, data, form_page="/admin")
        assert refused.status_code == 400 and 'role="alert"' in refused.text
        assert _leftovers(ctx, refused.text) == [], path
    assert done.status_code == 303
    assert _leftovers(ctx, admin.get(done.headers["Location"]).text) == []


def test_auditor_pages_in_english_have_no_polish_left(web):
    ctx, serial = web[0], web[6]
    auditor = _as(web, "auditor_en")
    for path in ("/audit", "/audit/usage", f"/audit/certificates/{serial}", "/expiring"):
        assert _leftovers(ctx, _english_page(web, auditor, path)) == [], path


def test_resident_pages_in_english_have_no_polish_left(web):
    ctx, app, _, _, _, code, serial = web
    resident = _english(Visitor(app, ctx))
    assert resident.post("/return", {"code": code, "password": PASSWORD}).status_code == 303
    for path in ("/my", f"/my/certificates/{serial}/revoke"):
        assert _leftovers(ctx, _english_page(web, resident, path)) == [], path
    v = _english(Visitor(app, ctx))
    step = v.post("/revoke", {"serial": serial, "password": PASSWORD, "reason": "superseded"})
    assert step.status_code == 303
    assert _leftovers(ctx, _english_page(web, v, "/revoke/confirm")) == []


def test_the_legal_pages_say_in_english_that_they_are_published_in_polish(web):
    ctx, app = web[:2]
    v = _english(Visitor(app, ctx))
    for path in _LEGAL:
        assert "published in Polish" in _english_page(web, v, path)


@pytest.mark.parametrize("lang, words", [
    ("pl", ["Certyfikaty wygasające w ciągu 30 dni", "Zaimportuj 1 poprawny wiersz",
            "zostanie zapisany 1 wniosek pracownika"]),
    ("en", ["Certificates expiring within 30 days", "Import 1 correct row",
            "1 staff enrolment will be recorded"]),
])
def test_the_later_office_pages_count_in_the_visitors_language(web, lang, words):
    officer = _as(web, "officer_en")
    officer.get(f"/?lang={lang}")
    csv = f"imię;nazwisko;PESEL;profile;JST\nEwa;Lis;{_pesel(12)};staff-signing;{JST}"
    page = officer.get("/expiring").text + officer.post(
        "/enrolments/import", {"file": (io.BytesIO(csv.encode()), "p.csv")}).text
    for w in words:
        assert w in page, w
