"""Names that would display as something other than what is certified: control, bidi-override,
zero-width and unassigned characters are refused naming the field, through the core and every
front (command line, RA API, enrollment web); what is kept is NFC."""

from __future__ import annotations

import json
import re

import pytest
from conftest import RESIDENT, STAFF, make_csr, run_cli
from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from webclient import Visitor, add_staff
from werkzeug.test import Client

from ca.errors import InvalidSubject
from ca.identity import parse_subscriber
from ca.store.models import Certificate, Enrolment, Organization
from ra.apikeys import create_api_key
from regca.wsgi import create_app

HOSTILE = "Jan\u202e\u200b\x7f\x85"


@pytest.mark.parametrize("char", [
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u200b",  # ZERO WIDTH SPACE
    "\u200d",  # ZERO WIDTH JOINER
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE (BOM)
    "\x7f",    # DELETE (control)
    "\x85",    # NEXT LINE (C1 control)
    "\t",      # TAB (control)
    "\u2028",  # LINE SEPARATOR
    "\U000e0001",  # LANGUAGE TAG (format)
    "\ue000",  # private use
    "\u0378",  # unassigned
])
@pytest.mark.parametrize("field", ["given_name", "surname", "title"])
def test_each_hidden_character_is_refused_naming_the_field(field, char):
    with pytest.raises(InvalidSubject) as err:
        parse_subscriber({**STAFF, field: f"Ja{char}n"})
    assert err.value.field == field and f"U+{ord(char):04X}" in err.value.message


def test_the_reported_name_is_refused_at_its_first_hidden_character():
    with pytest.raises(InvalidSubject) as err:
        parse_subscriber({**RESIDENT, "given_name": HOSTILE})
    assert err.value.message.startswith("given_name: ") and "U+202E" in err.value.message


def test_names_are_kept_in_nfc():
    decomposed = "Z\u0307o\u0301\u0142towska"  # Ż and ó as letter + combining mark
    sub = parse_subscriber({**RESIDENT, "surname": decomposed})
    assert sub.surname == "Żółtowska" and len(sub.surname) == 9


def test_polish_letters_hyphens_and_apostrophes_pass():
    sub = parse_subscriber({**RESIDENT, "surname": "  Kowalczyk-Żółtowska  O'Brien "})
    assert sub.surname == "Kowalczyk-Żółtowska O'Brien"


def test_latin_name_with_a_cyrillic_look_alike_is_refused():
    with pytest.raises(InvalidSubject) as err:
        parse_subscriber({**RESIDENT, "given_name": "J\u0430n"})  # Cyrillic small a
    assert err.value.field == "given_name" and "CYRILLIC" in err.value.message


def test_a_name_all_in_cyrillic_passes():
    assert parse_subscriber({**RESIDENT, "given_name": "Олена"}).given_name == "Олена"


# -- every front ---------------------------------------------------------------------------------

def _certificates(ctx) -> int:
    with ctx.db.reading() as s:
        return s.scalar(select(func.count()).select_from(Certificate))


@pytest.mark.hsm
def test_cli_issue_refuses_the_name_in_one_line(home, tmp_path):
    subject = tmp_path / "subj.json"
    subject.write_text(json.dumps({**STAFF, "surname": HOSTILE}))
    csr = tmp_path / "req.pem"
    csr.write_bytes(make_csr())
    before = _certificates(home)
    r = run_cli(home.settings.home, "issue", "--profile", "staff-signing", "--csr", str(csr),
                "--subject", str(subject))
    assert r.code != 0 and r.err.count("\n") == 1 and "surname" in r.err and "U+202E" in r.err
    assert _certificates(home) == before


@pytest.mark.hsm
def test_cli_org_add_refuses_a_hidden_character_in_the_name(home):
    r = run_cli(home.settings.home, "org", "add", "--teryt", "0810011",
                "--name", "Gmina\u200bLubsko")
    assert r.code != 0 and r.err.count("\n") == 1 and "name: " in r.err and "U+200B" in r.err
    with home.db.reading() as s:
        assert s.get(Organization, "0810011") is None


@pytest.mark.hsm
def test_ra_api_refuses_the_name_with_400(home):
    key = create_api_key(home, "rejestracja", ["issue"], "0862011")
    before = _certificates(home)
    r = Client(create_app(home.settings.home, home)).post(
        "/api/v1/certificates", headers={"Authorization": f"Bearer {key}"},
        json={"profile": "staff-signing", "csr": make_csr().decode(),
              "subject": {**STAFF, "given_name": HOSTILE}})
    assert r.status_code == 400
    assert r.get_json()["error"]["message"].startswith("given_name:")
    assert _certificates(home) == before


@pytest.mark.hsm
def test_ra_api_certifies_the_nfc_form(home):
    key = create_api_key(home, "rejestracja nfc", ["issue"], "0862011")
    r = Client(create_app(home.settings.home, home)).post(
        "/api/v1/certificates", headers={"Authorization": f"Bearer {key}"},
        json={"profile": "staff-signing", "csr": make_csr().decode(),
              "subject": {**STAFF, "surname": "Z\u0307o\u0301\u0142ty"}})
    assert r.status_code == 201, r.text
    cert = x509.load_pem_x509_certificate(r.get_json()["certificate"].encode())
    assert cert.subject.get_attributes_for_oid(NameOID.SURNAME)[0].value == "Żółty"


@pytest.mark.hsm
def test_web_enrolment_refuses_the_name_and_records_nothing(home):
    secret = add_staff(home, "officer_names", "officer", ["0862011"])
    officer = Visitor(create_app(home.settings.home, home), home).login("officer_names", secret)
    with home.db.reading() as s:
        before = s.scalar(select(func.count()).select_from(Enrolment))
    r = officer.post("/enrolments/new", {"kind": "resident", "organization_teryt": "0862011",
                                         "revocation_password": "haslo-do-uniewaznienia",
                                         **dict(RESIDENT, given_name=HOSTILE)})
    assert r.status_code == 400 and 'role="alert"' in r.text
    assert re.search(r'id="given_name-error">.*U\+202E', r.text)
    with home.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Enrolment)) == before
