"""Every error kind of the core is said to a visitor of the enrollment web in Polish (or in
English on request), in plain words, never in the core's English (issue 18): the mapping for
each kind found by introspection, and real refusals through the composed WSGI app."""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
import re

import pytest
from conftest import RESIDENT, make_csr
from flask import Flask, session
from webclient import Visitor, add_staff, issue_from_csr, record_enrolment

import ca
import ra
from ca.errors import BackedOff, InvalidSubject, RegCAError
from enrollment_web.errorpages import page_message, status_of
from regca.wsgi import create_app

# tests/test_browser_resident.py's English words, and the core's own
ENGLISH = re.compile(r"\b(the|is|not|invalid|required|field|password|error|certificate|"
                     r"enrolment|request)\b", re.I)  # "token" is Polish too
# tests/test_web_english.py's Polish letters and words
POLISH = re.compile(r"[ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]|\b(?:nie|jest|albo|oraz|lub|tak|wniosek|wnioski|"
                    r"wniosku|certyfikat|certyfikaty|Zapisz|Dodaj|Wybierz|Podaj|Popraw|Wyloguj|"
                    r"Zaloguj|Anuluj|Powrót|brak|dni|wierszy|pracownik|pracownicy)\b")
CORE_TEXT = "the certificate is not valid: asn1 parse error at field tbs.subject"


def _kinds() -> list[type[RegCAError]]:
    """RegCAError and every subclass the core (ca/, ra/) defines."""
    for package in (ca, ra):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if ".migrations" not in info.name:  # alembic's scripts, run only by alembic
                importlib.import_module(info.name)
    found, todo = set(), [RegCAError]
    while todo:
        kind = todo.pop()
        if kind.__module__.split(".")[0] in ("ca", "ra") and kind not in found:
            found.add(kind)
            todo.extend(kind.__subclasses__())
    return sorted(found, key=lambda k: f"{k.__module__}.{k.__qualname__}")


def _instance(kind: type[RegCAError]) -> RegCAError:
    if issubclass(kind, BackedOff):
        return kind(30)
    if issubclass(kind, InvalidSubject):
        return kind("tbs.subject", CORE_TEXT)
    assert list(inspect.signature(kind).parameters) == ["message"], kind
    return kind(CORE_TEXT)


def _said(exc: RegCAError, lang: str) -> str:
    app = Flask(__name__)
    app.secret_key = "test"
    with app.test_request_context("/"):
        session["lang"] = lang
        return page_message(exc)


KINDS = _kinds()


def test_introspection_finds_the_core_kinds_and_the_ras():
    names = {k.__name__ for k in KINDS}
    assert {"NotFound", "BadCSR", "BackedOff", "TokenError", "PickupExpired",
            "OrganizationInactive", "BrokenSeal"} <= names


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_every_kind_is_said_in_polish_and_in_english_without_the_cores_words(kind):
    exc = _instance(kind)
    polish, english = _said(exc, "pl"), _said(exc, "en")
    assert polish.strip() and not ENGLISH.search(polish), f"not Polish: {polish!r}"
    assert english.strip() and not POLISH.search(english), f"not English: {english!r}"
    for text in (polish, english):
        assert "asn1" not in text and "tbs." not in text and exc.message not in text
    if kind is not RegCAError:  # each kind says what happened to it, not "it failed"
        assert polish != _said(RegCAError(CORE_TEXT), "pl")


@pytest.mark.parametrize(("exc", "polish", "english"), [
    (ca.errors.Forbidden("JST 0861011 is outside your registration area"),
     "JST 0861011 jest poza Twoim obszarem rejestracji", "JST 0861011 is outside"),
    (ca.errors.TooManyRequests(
        "quota: JST 0862011 has used 50 of its 50 certificates for 2026-12 (regca.toml "
        "[quotas]); the count starts again next month (Europe/Warsaw) / limit ..."),
     "JST 0862011 wykorzystała już 50 z 50", "JST 0862011 has used 50 of its 50"),
    (ra.organizations.OrganizationInactive(
        "organization_teryt: Gmina Zabór (0862011) is deactivated and takes no new enrolments"),
     "JST Gmina Zabór (0862011) została wyłączona", "JST Gmina Zabór (0862011) was deactivated"),
    (ca.errors.Malformed("password: at least 12 characters"),
     "co najmniej 12 znaków", "at least 12 characters"),
    (BackedOff(42), "za 42 s", "in 42 s"),
])
def test_a_refusals_specifics_are_kept_in_the_visitors_language(exc, polish, english):
    assert polish in _said(exc, "pl") and not ENGLISH.search(_said(exc, "pl"))
    assert english in _said(exc, "en")


# -- real refusals through the composed WSGI app -------------------------------------------

JST = "0862011"


@pytest.fixture(scope="module")
def web(home_ctx):
    ctx = home_ctx
    secret = add_staff(ctx, "officer_kinds", "officer", [JST])
    app = create_app(ctx.settings.home, ctx)
    officer = Visitor(app, ctx).login("officer_kinds", secret)
    return ctx, app, officer


def _error_text(page: str) -> str:
    return re.search(r'<div class="alert" role="alert"><p>(.*?)</p>', page, re.S)[1]


def _plain(page: str) -> None:
    assert "Traceback" not in page and "RegCAError" not in page
    for core in ("among yours", "no enrolment", "PKCS#10 certificate request", "no such"):
        assert core not in page


@pytest.mark.hsm
def test_a_resident_asking_for_anothers_certificate_is_told_in_polish(web):
    ctx, app, officer = web
    own, code = record_enrolment(officer, {"kind": "resident", "organization_teryt": JST,
                                           "revocation_password": "haslo-do-uniewaznienia",
                                           **RESIDENT})
    other, _ = record_enrolment(officer, {"kind": "resident", "organization_teryt": JST,
                                          "revocation_password": "haslo-do-uniewaznienia",
                                          "given_name": "Adam", "surname": "Wiśniewski",
                                          "pesel": "44051401359"})
    issue_from_csr(officer, own, make_csr())
    other_serial = issue_from_csr(officer, other, make_csr())
    resident = Visitor(app, ctx)
    resident.pickup(code)
    for path in (f"/my/certificates/{other_serial}.pem", f"/my/certificates/{other_serial}/revoke"):
        r = resident.get(path)
        assert r.status_code == 404
        said = _error_text(r.text)
        assert "Nie masz takiego certyfikatu" in said and not ENGLISH.search(said)
        _plain(r.text)
    r = resident.get(f"/my/certificates/{other_serial}.pem?lang=en")
    assert r.status_code == 404 and "You have no such certificate" in _error_text(r.text)


@pytest.mark.hsm
def test_an_unknown_enrolment_is_said_in_polish_with_its_number(web):
    _, _, officer = web
    r = officer.get("/enrolments/987654?lang=pl")
    assert r.status_code == 404
    said = _error_text(r.text)
    assert "Nie ma wniosku nr 987654" in said and not ENGLISH.search(said)
    _plain(r.text)


@pytest.mark.hsm
def test_a_garbage_csr_is_refused_in_polish(web):
    _, _, officer = web
    enrolment_id, _ = record_enrolment(officer, {
        "kind": "resident", "organization_teryt": JST,
        "revocation_password": "haslo-do-uniewaznienia", **RESIDENT})
    r = officer.post(f"/enrolments/{enrolment_id}/csr",
                     {"profile": "resident-signing",
                      "csr": (io.BytesIO(b"not a certificate request at all"), "r.pem")},
                     form_page=f"/enrolments/{enrolment_id}?lang=pl")
    assert r.status_code == 400
    assert "Plik nie jest poprawnym żądaniem CSR" in r.text
    _plain(r.text)
    assert "not a PKCS#10" not in r.text


def test_status_is_still_decided_once_by_kind():
    assert status_of(ca.errors.NotFound("x")) == 404
    assert status_of(ca.errors.BadCSR("x")) == 400
    assert status_of(ra.organizations.OrganizationInactive("x")) == 409
