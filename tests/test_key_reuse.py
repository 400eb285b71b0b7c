"""Keys that never come back: a key revoked for keyCompromise is refused for ever (any profile,
any JST), a key is certified for one subject only (the same subject again only where the profile
allows a renewal), and one NIP or REGON belongs to one JST; through the core, the command line,
the RA API and the enrollment web, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json

import pytest
from conftest import (
    RESIDENT,
    STAFF,
    backends,
    fresh_database,
    make_csr,
    make_home,
    new_key,
    run_cli,
)
from cryptography import x509
from sqlalchemy import create_engine, func, select, text
from webclient import Visitor, add_staff, record_enrolment
from werkzeug.test import Client

from ca.errors import BlockedKey, Conflict, KeyInUse
from ca.issuance import IssuanceRequest, Issuer
from ca.keyreuse import spki_sha256
from ca.revocation import RevocationRequest, Revoker
from ca.store.models import Certificate, Organization
from ra.apikeys import create_api_key
from ra.organizations import add_organization
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm

OTHER_JST = {**STAFF, "organization_teryt": "0861011"}
OTHER_PERSON = {**STAFF, "given_name": "Anna", "surname": "Zielińska"}
# another person of the same name whose PESEL masks the same (02*******24): the stored subjects
# of the two are the same masked text, only the PESEL's keyed reference tells them apart
RESIDENT_TWIN = {**RESIDENT, "pesel": "02100100424"}


def _issue(ctx, key, subject=STAFF, profile="staff-authentication"):
    return Issuer(ctx).issue(IssuanceRequest(profile=profile, csr=make_csr(key),
                                             subject=subject, actor="test"))


def _revoke(ctx, serial, reason):
    Revoker(ctx).revoke(RevocationRequest(serial, reason, "test"))


def _count(ctx) -> int:
    with ctx.db.reading() as s:
        return s.scalar(select(func.count()).select_from(Certificate))


# -- the core ----------------------------------------------------------------------------------

@pytest.mark.parametrize("profile,subject", [
    ("staff-authentication", STAFF),   # the same subject, a profile that allows renewal
    ("staff-signing", STAFF),          # another profile
    ("staff-authentication", OTHER_JST),  # another JST
    ("resident-signing", RESIDENT),    # another kind of subscriber
])
def test_a_key_revoked_for_key_compromise_is_refused_for_ever(ctx, profile, subject):
    key = new_key()
    _revoke(ctx, _issue(ctx, key).serial, "keyCompromise")
    before = _count(ctx)
    with pytest.raises(BlockedKey, match="keyCompromise"):
        _issue(ctx, key, subject, profile)
    assert _count(ctx) == before


def test_a_key_compromised_after_a_hold_is_refused(ctx):
    key = new_key()
    serial = _issue(ctx, key).serial
    _revoke(ctx, serial, "certificateHold")
    _revoke(ctx, serial, "keyCompromise")
    with pytest.raises(BlockedKey):
        _issue(ctx, key)


def test_a_key_revoked_for_another_reason_may_be_renewed_by_its_subject(ctx):
    key = new_key()
    _revoke(ctx, _issue(ctx, key).serial, "superseded")
    assert _issue(ctx, key).certificate.public_key() == key.public_key()


def test_a_key_of_one_subject_is_refused_for_another(ctx):
    key = new_key()
    _issue(ctx, key)
    with pytest.raises(KeyInUse, match="another subject"):
        _issue(ctx, key, OTHER_PERSON)


def test_a_residents_key_is_certified_again_for_the_same_person(ctx):
    key = new_key()
    _issue(ctx, key, RESIDENT, "resident-authentication")
    again = _issue(ctx, key, RESIDENT, "resident-authentication")
    assert again.certificate.public_key() == key.public_key()


def test_a_residents_key_is_refused_for_another_person_with_the_same_masked_pesel(ctx):
    key = new_key()
    _issue(ctx, key, RESIDENT, "resident-authentication")
    with pytest.raises(KeyInUse, match="another subject"):
        _issue(ctx, key, RESIDENT_TWIN, "resident-authentication")


def test_renewal_with_the_same_key_only_where_the_profile_allows(ctx):
    key = new_key()
    _issue(ctx, key, profile="staff-signing")
    with pytest.raises(KeyInUse, match="staff-signing allows no renewal"):
        _issue(ctx, key, profile="staff-signing")
    other = new_key()
    _issue(ctx, other)
    assert _issue(ctx, other).certificate.public_key() == other.public_key()


def test_the_key_hash_is_the_same_whatever_the_csr(ctx):
    """Another CSR (another CN, a fresh signature) for the same key is the same key."""
    key = new_key("rsa-2048")
    _revoke(ctx, _issue(ctx, key).serial, "keyCompromise")
    csr = make_csr(key, cn="something else entirely")
    with pytest.raises(BlockedKey):
        Issuer(ctx).issue(IssuanceRequest(profile="staff-signing", csr=csr, subject=STAFF,
                                          actor="test"))


@pytest.mark.parametrize("field,value,holder", [("nip", "9291004928", "0862011"),
                                                ("regon", "080000012", "0862011")])
def test_a_nip_or_regon_of_one_jst_is_refused_for_another(ctx, field, value, holder):
    with pytest.raises(Conflict, match=f"^{field}: .*{holder}"):
        add_organization(ctx, "0810011", "Gmina Lubsko", **{field: value})
    with ctx.db.reading() as s:
        assert s.get(Organization, "0810011") is None


# -- the command line --------------------------------------------------------------------------

def test_cli_refuses_a_compromised_key_in_one_line(ctx, tmp_path):
    key = new_key()
    (tmp_path / "req.pem").write_bytes(make_csr(key))
    (tmp_path / "subj.json").write_text(json.dumps(STAFF))
    args = ("issue", "--profile", "staff-authentication", "--csr", str(tmp_path / "req.pem"),
            "--subject", str(tmp_path / "subj.json"))
    first = run_cli(ctx.settings.home, *args)
    assert first.code == 0, first.err
    assert run_cli(ctx.settings.home, "revoke", first.out.strip(), "--reason",
                   "keyCompromise").code == 0
    again = run_cli(ctx.settings.home, *args)
    assert again.code == 1 and again.err.count("\n") == 1 and "keyCompromise" in again.err


def test_cli_refuses_a_key_of_another_subject_and_a_taken_nip(ctx, tmp_path):
    key = new_key()
    (tmp_path / "req.pem").write_bytes(make_csr(key))
    for name, subject in (("a.json", STAFF), ("b.json", OTHER_PERSON)):
        (tmp_path / name).write_text(json.dumps(subject))
    issue = ("issue", "--profile", "staff-signing", "--csr", str(tmp_path / "req.pem"),
             "--subject")
    assert run_cli(ctx.settings.home, *issue, str(tmp_path / "a.json")).code == 0
    other = run_cli(ctx.settings.home, *issue, str(tmp_path / "b.json"))
    assert other.code == 1 and "another subject" in other.err and other.err.count("\n") == 1
    nip = run_cli(ctx.settings.home, "org", "add", "--teryt", "0810011", "--name", "Lubsko",
                  "--nip", "5991000014")
    assert nip.code == 1 and "nip: 5991000014" in nip.err and "0861011" in nip.err


# -- the RA API --------------------------------------------------------------------------------

def test_ra_api_refuses_a_compromised_key_and_a_key_of_another_subject(ctx):
    client = Client(create_app(ctx.settings.home, ctx))
    headers = {"Authorization": "Bearer " + create_api_key(ctx, "ra", ["issue", "revoke"],
                                                           "0862011")}

    def issue(key, subject):
        return client.post("/api/v1/certificates", headers=headers, json={
            "profile": "staff-authentication", "csr": make_csr(key).decode(),
            "subject": subject})

    key = new_key()
    first = issue(key, STAFF)
    assert first.status_code == 201
    other = issue(key, OTHER_PERSON)
    assert other.status_code == 400 and other.get_json()["error"]["code"] == "key_in_use"
    serial = first.get_json()["serial"]
    assert client.post(f"/api/v1/certificates/{serial}/revoke", headers=headers,
                       json={"reason": "keyCompromise"}).status_code == 200
    again = issue(key, STAFF)
    assert again.status_code == 400 and again.get_json()["error"]["code"] == "blocked_key"


# -- the enrollment web ------------------------------------------------------------------------

def test_web_refuses_a_compromised_key_and_a_key_of_another_resident(ctx):
    officer_secret = add_staff(ctx, f"officer_keys_{ctx.db.dialect}", "officer", ["0862011"])
    app = create_app(ctx.settings.home, ctx)
    officer = Visitor(app, ctx).login(f"officer_keys_{ctx.db.dialect}", officer_secret)

    def enrol(subject):
        return record_enrolment(officer, {"kind": "resident", "organization_teryt": "0862011",
                                          "revocation_password": "haslo-do-uniewaznienia",
                                          **subject})[0]

    def upload(enrolment_id, key):
        return officer.post(f"/enrolments/{enrolment_id}/csr",
                            {"profile": "resident-signing",
                             "csr": (io.BytesIO(make_csr(key)), "req.pem")},
                            form_page=f"/enrolments/{enrolment_id}")

    key = new_key()
    assert upload(enrol(RESIDENT), key).status_code == 303
    second = {"given_name": "Adam", "surname": "Wiśniewski", "pesel": "44051401359"}
    other = upload(enrol(second), key)
    assert other.status_code == 400 and "w certyfikacie innej osoby" in other.text
    compromised = new_key()
    first = Issuer(ctx).issue(IssuanceRequest(profile="resident-signing",
                                              csr=make_csr(compromised),
                                              subject=RESIDENT, actor="test"))
    _revoke(ctx, first.serial, "keyCompromise")
    refused = upload(enrol(RESIDENT), compromised)
    assert refused.status_code == 400 and "kompromitacji klucza" in refused.text


# -- the migration -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", backends())
def test_the_migration_hashes_the_keys_of_certificates_made_before_it(kind, tmp_path):
    from alembic import command
    from alembic.config import Config

    from ca.store.db import MIGRATIONS
    with fresh_database(kind, tmp_path) as url:
        home = make_home(tmp_path / "home", url)
        home.db.dispose()
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        engine = create_engine(url)
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")  # the certificates stay, without their key hashes
            conn.commit()
            command.upgrade(cfg, "heads")
            conn.commit()
            rows = conn.execute(text("SELECT der, spki_sha256 FROM certificates")).all()
        engine.dispose()
    assert len(rows) >= 5
    for der, digest in rows:
        assert bytes(digest) == spki_sha256(x509.load_der_x509_certificate(der).public_key())
