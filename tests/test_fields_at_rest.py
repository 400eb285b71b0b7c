"""TOTP secrets and PESELs encrypted at rest: a copy of the database alone reveals neither.

A demo run goes through the real web (an officer sets up TOTP, enrols a resident with a PESEL
and issues their certificate, whose subject carries ``PNOPL-<PESEL>``), the command line and the
RA API (certificates for two more residents); then the database's own files (``-wal`` and
``-shm`` included) are read byte by byte, the ``sqlite3`` client dumps the copy, and every table
of either backend is dumped row by row. The same run checks what must still work with the
values sealed (log-in with TOTP, the enrolment's pages, the PESEL in the subject a certificate
gets, exact search by PESEL, the certificates handed out as they were signed), what a moved or
changed value does (it does not open), how a home made before sealing gets there, and that
without the HSM's key-encryption key the web answers 503, never 500.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
from typing import NamedTuple

import pyotp
import pytest
from conftest import PINNED, fresh_database, make_csr, make_home, run_cli
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from sqlalchemy import create_engine, inspect, select, text
from webclient import PASSWORD, Visitor, issue_from_csr, next_totp, record_enrolment
from werkzeug.test import Client

from ca.clock import FixedClock
from ca.context import CaContext
from ca.field_crypto import BrokenSeal, pesel_of, totp_secret_of
from ca.identity import mask_pesel
from ca.issuance import IssuanceRequest, Issuer
from ca.store import accounts
from ca.store import certificates as cert_store
from ca.store.models import Enrolment
from ra import enrolment as enrol
from ra.apikeys import create_api_key
from ra.users import create_user
from regca.roles import read_only_store
from regca.sealed_fields import seal_clear_fields
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
JST = "0862011"
PESEL = "44051401359"
OTHER_PESEL = "02270803624"
SURNAME = "Wiśniewski"
CLI_PESEL = "85010112345"  # a resident issued for by `regca issue`
API_PESEL = "90090515836"  # and one by the RA API
PESELS = (PESEL, CLI_PESEL, API_PESEL)


def _app(ctx):
    return create_app(ctx.settings.home, ctx)


def _set_up_totp(app, ctx, username: str) -> str:
    """The officer's first log-in: the secret the set-up page shows, confirmed with a code."""
    v = Visitor(app, ctx)
    r = v.post("/login", {"username": username, "password": PASSWORD})
    assert r.headers["Location"] == "/login/totp-setup"
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', v.get("/login/totp-setup").text)[1]
    r = v.post("/login/totp-setup", {"code": pyotp.TOTP(secret).at(ctx.now())})
    assert r.status_code == 302, r.text
    return secret


def _enrol(v: Visitor, pesel: str) -> tuple[int, str]:
    enrolment_id, code = record_enrolment(v, {
        "kind": "resident", "organization_teryt": JST, "given_name": "Adam", "surname": SURNAME,
        "pesel": pesel, "revocation_password": "haslo-do-uniewaznienia"})
    assert code
    return enrolment_id, code


def _resident(pesel: str) -> dict:
    return {"given_name": "Ewa", "surname": SURNAME, "pesel": pesel,
            "organization_teryt": JST}


def _issue_by_cli(ctx, tmp) -> bytes:
    """``regca issue`` for a resident; the DER of the certificate it wrote out."""
    (tmp / "r.csr").write_bytes(make_csr())
    (tmp / "r.json").write_text(json.dumps(_resident(CLI_PESEL)))
    done = run_cli(ctx.settings.home, "issue", "--profile", "resident-signing", "--csr",
                   str(tmp / "r.csr"), "--subject", str(tmp / "r.json"), "--out",
                   str(tmp / "r.pem"))
    assert done.code == 0, done.err
    return x509.load_pem_x509_certificate((tmp / "r.pem").read_bytes()).public_bytes(
        Encoding.DER)


def _issue_by_api(app, key: str) -> bytes:
    r = Client(app).post("/api/v1/certificates", headers={"Authorization": f"Bearer {key}"},
                         json={"profile": "resident-authentication",
                               "csr": make_csr().decode(), "subject": _resident(API_PESEL)})
    assert r.status_code == 201, r.text
    return x509.load_pem_x509_certificate(r.json["certificate"].encode()).public_bytes(
        Encoding.DER)


def _serial(der: bytes) -> str:
    return f"{x509.load_der_x509_certificate(der).serial_number:x}"


class Demo(NamedTuple):
    ctx: CaContext
    app: object
    secret: str  # the officer's TOTP secret
    enrolment_id: int
    pickup_code: str
    web_serial: str  # the certificate the officer issued at the desk
    signed: dict[str, bytes]  # the command line's and the RA API's, by serial: DER as signed
    api_key: str  # of scopes issue and revoke, bound to JST

    def api_der(self, serial: str) -> bytes:
        """A certificate as the RA API hands it out (``Accept: application/pkix-cert``)."""
        r = Client(self.app).get(f"/api/v1/certificates/{serial}", headers={
            "Authorization": f"Bearer {self.api_key}", "Accept": "application/pkix-cert"})
        assert r.status_code == 200, r.text
        return r.data

    def certificates(self) -> dict[str, bytes]:
        """Every resident certificate of the demo, by serial."""
        return {**self.signed, self.web_serial: self.api_der(self.web_serial)}


@pytest.fixture(scope="module")
def demo(backend, tmp_path_factory):
    """A home after a demo run: through the web an officer set up TOTP, enrolled a resident
    with a PESEL and issued their certificate; two more residents' certificates were issued
    by ``regca issue`` and the RA API. Yields the context, the web, the TOTP secret, the
    enrolment, its pickup code and the certificates (``Demo``)."""
    tmp = tmp_path_factory.mktemp(f"atrest-{backend}")
    with fresh_database(backend, tmp) as url:
        ctx = make_home(tmp / "home", url)
        create_user(ctx, "officer_x", PASSWORD, "officer", [JST], actor="test")
        app = _app(ctx)
        secret = _set_up_totp(app, ctx, "officer_x")
        v = Visitor(app, ctx).login("officer_x", secret)
        enrolment_id, code = _enrol(v, PESEL)
        web_serial = issue_from_csr(v, enrolment_id, make_csr())
        key = create_api_key(ctx, "rejestracja", ["issue", "revoke"], JST)
        signed = {_serial(der): der for der in (_issue_by_cli(ctx, tmp),
                                                _issue_by_api(app, key))}
        yield Demo(ctx, app, secret, enrolment_id, code, web_serial, signed, key)
        ctx.db.dispose()


def _secrets_in(data: bytes | str, secret: str, certificates: dict[str, bytes] | None = None
                ) -> list[str]:
    """Which of the demo's secrets ``data`` holds: a PESEL (as text, or as the hex a dump
    shows a binary column in), the TOTP secret as base32 text or as its raw bytes, a resident's
    certificate as its DER or as the base64 lines of its PEM (which decode to the PESEL)."""
    if isinstance(data, str):
        data = data.encode()
    lower = data.lower()
    needles = [("TOTP secret", secret.encode()), ("TOTP secret bytes", base64.b32decode(secret)),
               ("TOTP secret lowercase", secret.lower().encode())]
    for pesel in PESELS:
        name = "PESEL" if pesel == PESEL else f"PESEL {pesel}"
        needles += [(name, pesel.encode()), (f"{name} in hex", pesel.encode().hex().encode())]
    for serial, der in (certificates or {}).items():
        lines = textwrap.wrap(base64.b64encode(der).decode(), 64)[:-1]  # whole PEM lines
        needles += [(f"certificate {serial}", der)]
        needles += [(f"certificate {serial} in PEM", line.encode()) for line in lines]
    found = []
    for name, needle in needles:
        if needle in data or ("hex" in name and needle in lower):
            found.append(name)
    return sorted(set(found), key=found.index)


def _table_dump(ctx) -> str:
    """Every row of every table, as text: what ``SELECT *`` shows anyone holding a copy."""
    engine = create_engine(ctx.settings.database_url)
    try:
        lines = []
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    lines.append(f"{table}: " + " | ".join(
                        v.hex() + " " + v.decode("latin-1") if isinstance(v, bytes) else str(v)
                        for v in row))
        return "\n".join(lines)
    finally:
        engine.dispose()


def _copy_sqlite_files(ctx, dest) -> list:
    """The database's files as another account's ``cp`` copies them. Another process: closing
    a file this process opened would drop the POSIX locks its SQLite connections hold (SQLite's
    "How To Corrupt" §2.2), which no real copy does."""
    dest.mkdir()
    files = [str(p) for p in ctx.db.files if p.exists() and p.suffix != ".writers"]
    subprocess.run(["cp", *files, str(dest)], check=True)
    return sorted(dest.iterdir())


# -- what a copy of the database shows ------------------------------------------------------------

def test_a_pg_dump_of_the_database_holds_neither_pesel_nor_totp_secret(demo):
    """What a backup or a stolen dump of a PostgreSQL home shows, by PostgreSQL's own client."""
    ctx, _, secret, _, *_ = demo
    if ctx.db.dialect != "postgresql":
        pytest.skip("pg_dump reads PostgreSQL; the SQLite files are read below")
    url = ctx.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    dump = subprocess.run(["pg_dump", "--data-only", url], capture_output=True, text=True,
                          check=True).stdout
    assert SURNAME in dump and "data_keys" in dump
    assert all(serial in dump for serial in demo.certificates())  # their rows are there
    assert _secrets_in(dump, secret, demo.certificates()) == []


def test_the_database_files_copied_out_hold_neither_pesel_nor_totp_secret(demo, tmp_path):
    ctx, _, secret, _, *_ = demo
    if ctx.db.dialect != "sqlite":
        pytest.skip("the files of a server database are the server's: pg_dump reads them above")
    copied = _copy_sqlite_files(ctx, tmp_path / "copy")
    assert any(str(p).endswith("-wal") for p in copied)  # the WAL is read too
    raw = b"".join(p.read_bytes() for p in copied)
    assert SURNAME.encode() in raw  # the copy holds the demo run's rows: a clear value shows
    certificates = demo.certificates()
    assert _secrets_in(raw, secret, certificates) == []
    dump = subprocess.run(["sqlite3", str(tmp_path / "copy" / "regca.db"), ".dump"],
                          capture_output=True, text=True, check=True).stdout
    assert SURNAME in dump and "INSERT INTO enrolments" in dump
    assert all(serial in dump for serial in certificates)  # their rows are there
    assert _secrets_in(dump, secret, certificates) == []


def test_no_table_holds_the_pesel_or_the_totp_secret(demo):
    ctx, _, secret, enrolment_id, *_ = demo
    dump = _table_dump(ctx)
    assert SURNAME in dump
    assert _secrets_in(dump, secret, demo.certificates()) == []
    with ctx.db.reading() as s:
        e = s.get(Enrolment, enrolment_id)
        user = accounts.get_user(s, "officer_x")
    assert e.pesel_sealed.startswith("v1.") and user.totp_secret.startswith("v1.")


# -- what still works -----------------------------------------------------------------------------

def test_log_in_with_totp_works_with_the_secret_sealed(demo):
    ctx, app, secret, _, *_ = demo
    v = Visitor(app, ctx).login("officer_x", secret)
    assert v.get("/enrolments").status_code == 200


def test_a_wrong_totp_code_is_still_refused(demo):
    ctx, app, secret, _, *_ = demo
    v = Visitor(app, ctx)
    v.post("/login", {"username": "officer_x", "password": PASSWORD})
    good = next_totp(ctx, secret)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    assert v.post("/login/totp", {"code": wrong}).status_code == 401


def test_the_enrolment_pages_show_the_opened_pesel_masked(demo):
    ctx, app, secret, enrolment_id, *_ = demo
    v = Visitor(app, ctx).login("officer_x", secret)
    for page in (v.get(f"/enrolments/{enrolment_id}").text, v.get("/enrolments").text):
        assert mask_pesel(PESEL) in page and PESEL not in page


def test_the_subject_of_a_certificate_gets_the_opened_pesel(demo):
    ctx, _, _, enrolment_id, *_ = demo
    e = enrol.visible(read_only_store(ctx), enrolment_id, (JST,))
    assert enrol.subject_of(e)["pesel"] == PESEL


def test_exact_search_by_pesel_finds_the_enrolment_by_its_keyed_reference(demo):
    ctx, _, _, enrolment_id, *_ = demo
    store = read_only_store(ctx)
    assert [e.id for e in enrol.find_by_pesel(store, PESEL, (JST,))] == [enrolment_id]
    assert enrol.find_by_pesel(store, PESEL, ("0861011",)) == []  # another JST's officer
    assert enrol.find_by_pesel(store, OTHER_PESEL, None) == []
    with ctx.db.reading() as s:
        assert s.get(Enrolment, enrolment_id).person_ref == ctx.people.ref(PESEL)


def test_an_officer_finds_the_person_by_pesel_on_the_enrolments_page(demo):
    ctx, app, secret, enrolment_id, *_ = demo
    v = Visitor(app, ctx).login("officer_x", secret)
    r = v.get(f"/enrolments?q={PESEL}")
    assert r.status_code == 200
    assert f'href="/enrolments/{enrolment_id}"' in r.text and mask_pesel(PESEL) in r.text
    r = v.get(f"/enrolments?q={OTHER_PESEL}")
    assert r.status_code == 200 and 'id="no-match"' in r.text
    r = v.get(f"/enrolments?q={PESEL[:-1]}8")
    assert r.status_code == 400 and "Numer PESEL jest nieprawidłowy" in r.text


def test_a_residents_certificate_row_is_sealed_with_the_subject_masked(demo):
    ctx = demo.ctx
    by_serial = {serial: pesel for serial, pesel in zip(
        [*demo.signed, demo.web_serial], (CLI_PESEL, API_PESEL, PESEL), strict=True)}
    with ctx.db.reading() as s:
        rows = {r.serial: r for r in cert_store.get_many(s, list(by_serial))}
    for serial, pesel in by_serial.items():
        row = rows[serial]
        assert row.der.startswith(b"v1.") and row.tbs.startswith(b"v1.")
        assert f"PNOPL-{mask_pesel(pesel)}" in row.subject and pesel not in row.subject
        assert row.person_ref == ctx.people.ref(pesel)


def test_a_sealed_certificate_does_not_open_at_another_serial(demo):
    ctx = demo.ctx
    one, other = list(demo.signed)
    with ctx.db.reading() as s:
        stored = cert_store.get(s, one).der
    assert cert_store.der_of(ctx.fields, one, stored) == demo.signed[one]
    with pytest.raises(BrokenSeal):
        cert_store.der_of(ctx.fields, other, stored)


def _verified_by_openssl(ctx, pem: bytes, tmp_path) -> None:
    root, issuing = (c.public_bytes(Encoding.PEM) for c in (ctx.chain()[-1], ctx.chain()[0]))
    (tmp_path / "root.pem").write_bytes(root)
    (tmp_path / "issuing.pem").write_bytes(issuing)
    (tmp_path / "cert.pem").write_bytes(pem)
    # `regca issue` runs on the real clock, the home's services on the pinned one
    at = max(ctx.now(), x509.load_pem_x509_certificate(pem).not_valid_before_utc)
    done = subprocess.run(["openssl", "verify", "-attime", str(int(at.timestamp())),
                           "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                           str(tmp_path / "issuing.pem"), str(tmp_path / "cert.pem")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().endswith(": OK"), done.stdout + done.stderr


def test_the_ra_api_hands_out_each_certificate_exactly_as_it_was_signed(demo, tmp_path):
    for serial, der in demo.signed.items():
        assert demo.api_der(serial) == der
        r = Client(demo.app).get(f"/api/v1/certificates/{serial}",
                                 headers={"Authorization": f"Bearer {demo.api_key}"})
        assert r.status_code == 200 and r.json["status"] == "good"
        pem = r.json["certificate"].encode()
        assert x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER) == der
        _verified_by_openssl(demo.ctx, pem, tmp_path)


def test_the_resident_downloads_their_certificate_as_signed(demo, tmp_path):
    """PEM, DER and PKCS#7 from the resident's page: the same bytes the RA API gives and the
    issuing CA's signature checks out (openssl)."""
    ctx, serial = demo.ctx, demo.web_serial
    v = Visitor(demo.app, ctx)
    assert v.pickup(demo.pickup_code).headers["Location"] == "/my"
    der = v.get(f"/my/certificates/{serial}.der")
    assert der.status_code == 200 and der.data == demo.api_der(serial)
    pem = v.get(f"/my/certificates/{serial}.pem").data
    assert x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER) == der.data
    bundle = pkcs7.load_der_pkcs7_certificates(v.get(f"/my/certificates/{serial}.p7b").data)
    assert der.data in [c.public_bytes(Encoding.DER) for c in bundle]
    _verified_by_openssl(ctx, pem, tmp_path)


def test_the_log_export_writes_each_certificate_as_signed(demo, tmp_path):
    done = run_cli(demo.ctx.settings.home, "audit", "export", "--out", str(tmp_path / "out"))
    assert done.code == 0, done.err
    for serial, der in demo.certificates().items():
        assert (tmp_path / "out" / "certificates" / f"{serial}.der").read_bytes() == der


# -- what a sealed value refuses ------------------------------------------------------------------

def test_a_sealed_value_does_not_open_in_another_row(demo):
    ctx, _, secret, _, *_ = demo
    sealed = ctx.fields.seal(secret, totp_secret_of("officer_x"))
    assert ctx.fields.open(sealed, totp_secret_of("officer_x")) == secret
    with pytest.raises(BrokenSeal):
        ctx.fields.open(sealed, totp_secret_of("admin"))
    with pytest.raises(BrokenSeal):
        ctx.fields.open(ctx.fields.seal(PESEL, pesel_of(1)), pesel_of(2))


def test_a_changed_or_clear_value_does_not_open(demo):
    ctx, _, secret, _, *_ = demo
    sealed = ctx.fields.seal(secret, totp_secret_of("officer_x"))
    head, body = sealed.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(BrokenSeal):
        ctx.fields.open(f"{head}.{base64.urlsafe_b64encode(bytes(raw)).decode()}",
                        totp_secret_of("officer_x"))
    with pytest.raises(BrokenSeal):
        ctx.fields.open(secret, totp_secret_of("officer_x"))  # a clear value is not trusted


# -- rotation -------------------------------------------------------------------------------------

def test_rotation_seals_every_value_again_with_a_new_data_key(demo):
    ctx, app, secret, enrolment_id, *_ = demo
    before = ctx.fields.current_key_id()
    done = subprocess.run([sys.executable, "-m", "regca.cli", "--home", str(ctx.settings.home),
                           "fields", "rotate"], capture_output=True, text=True,
                          env=dict(os.environ, REGCA_HOME=str(ctx.settings.home)))
    assert done.returncode == 0, done.stderr
    new = int(re.search(r"data key (\d+) made", done.stdout)[1])
    assert new > before
    with ctx.db.reading() as s:
        e = s.get(Enrolment, enrolment_id)
        user = accounts.get_user(s, "officer_x")
    assert e.pesel_sealed.startswith(f"v1.{new}.") and user.totp_secret.startswith(f"v1.{new}.")
    # a worker that has not looked again yet seals with the old key: that still opens
    stale = ctx.fields.seal(PESEL, pesel_of(enrolment_id))
    assert stale.startswith(f"v1.{before}.")
    fresh = CaContext.open(ctx.settings.home, ctx.clock)
    assert fresh.fields.open(stale, pesel_of(enrolment_id)) == PESEL
    assert fresh.fields.current_key_id() == new
    v = Visitor(app, ctx).login("officer_x", secret)
    assert mask_pesel(PESEL) in v.get(f"/enrolments/{enrolment_id}").text
    # the residents' certificates too, which still come out as they were signed
    with ctx.db.reading() as s:
        rows = cert_store.get_many(s, list(demo.signed))
    assert all(r.der.startswith(f"v1.{new}.".encode()) and r.tbs.startswith(
        f"v1.{new}.".encode()) for r in rows) and len(rows) == 2
    assert all(demo.api_der(serial) == der for serial, der in demo.signed.items())
    assert _secrets_in(_table_dump(ctx), secret, demo.certificates()) == []


# -- without the HSM's key ------------------------------------------------------------------------

def _delete_kek(ctx) -> None:
    """The HSM loses the key-encryption key (pkcs11-tool, another process, deletes it)."""
    token = ctx.settings.hsm.tokens["online"]
    env = dict(os.environ, SOFTHSM2_CONF=str(ctx.settings.hsm.softhsm_conf))
    done = subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label", token.label,
                           "--login", "--pin", token.pin(), "--delete-object", "--type",
                           "secrkey", "--label", "regca-data-kek"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_without_the_key_encryption_key_the_web_answers_503(demo):
    """Last in the module: the home's HSM loses its key for good."""
    ctx, _, secret, enrolment_id, *_ = demo
    _delete_kek(ctx)
    fresh = CaContext.open(ctx.settings.home, ctx.clock)  # a worker started after the loss
    fresh.__dict__["db"] = ctx.db
    v = Visitor(_app(fresh), fresh)
    assert v.post("/login", {"username": "officer_x", "password": PASSWORD}).status_code == 302
    r = v.post("/login/totp", {"code": next_totp(ctx, secret)})
    assert r.status_code == 503
    # the page says it in the visitor's words; the core's own text is for the log and healthz
    assert "Moduł kryptograficzny (HSM) jest chwilowo niedostępny" in r.text
    assert "key-encryption key" not in r.text and "Traceback" not in r.text
    assert v.get("/healthz").status_code == 503
    with pytest.raises(Exception, match="key-encryption key"):
        enrol.visible(read_only_store(fresh), enrolment_id, None)


# -- a home made before sealing -------------------------------------------------------------------

def _make_older_home(ctx, secret: str) -> x509.Certificate:
    """As a RegCA before sealing left it: no ``kek`` in regca.toml or in the token, no data
    key, a TOTP secret, a PESEL and a resident's certificate (its subject, TBS and DER) in
    clear; that certificate."""
    issued = Issuer(ctx).issue(IssuanceRequest("resident-signing", make_csr(),
                                               _resident(PESEL), "test")).certificate
    config = ctx.settings.config_file
    config.write_text(re.sub(r"\n\[hsm\.keys\.kek\]\n(?:[a-z]+ = .*\n)+", "\n",
                             config.read_text()))
    _delete_kek(ctx)
    create_user(ctx, "legacy", PASSWORD, "officer", [JST], actor="test")
    engine = create_engine(ctx.settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM data_keys"))
        conn.execute(text("UPDATE users SET totp_secret = :s WHERE username = 'legacy'"),
                     {"s": secret})
        conn.execute(text(
            "INSERT INTO enrolments (organization_teryt, officer, kind, given_name, surname, "
            "pesel, created_at) VALUES (:t, 'officer', 'resident', 'Adam', :n, :p, :at)"),
            {"t": JST, "n": SURNAME, "p": PESEL, "at": PINNED.replace(tzinfo=None)})
        conn.execute(text("UPDATE certificates SET subject = :subject, tbs = :tbs, der = :der, "
                          "person_ref = NULL WHERE serial = :serial"),
                     {"subject": issued.subject.rfc4514_string(),
                      "tbs": issued.tbs_certificate_bytes,
                      "der": issued.public_bytes(Encoding.DER),
                      "serial": f"{issued.serial_number:x}"})
    engine.dispose()
    return issued


def test_an_older_home_has_its_clear_values_sealed_at_start_up(backend, tmp_path):
    secret = pyotp.random_base32(32)
    with fresh_database(backend, tmp_path) as url:
        made = make_home(tmp_path / "home", url)
        issued = _make_older_home(made, secret)
        made.db.dispose()
        serial, der = f"{issued.serial_number:x}", issued.public_bytes(Encoding.DER)
        ctx = CaContext.open(tmp_path / "home", FixedClock(PINNED))
        assert "kek" not in ctx.settings.hsm.keys
        assert _secrets_in(_table_dump(ctx), secret, {serial: der}) == [  # the control
            "TOTP secret", "PESEL", "PESEL in hex"]

        done = seal_clear_fields(ctx)

        assert (done.kek_added, done.totp_secrets, done.pesels, done.certificates) == (
            True, 1, 1, 1)
        ctx = done.ctx
        assert "kek" in CaContext.open(ctx.settings.home).settings.hsm.keys  # in regca.toml
        assert ctx.hsm.key_attributes("kek") == {"sensitive": True, "extractable": False}
        assert _secrets_in(_table_dump(ctx), secret, {serial: der}) == []
        if ctx.db.dialect == "sqlite":
            raw = b"".join(p.read_bytes() for p in _copy_sqlite_files(ctx, tmp_path / "copy"))
            assert SURNAME.encode() in raw and _secrets_in(raw, secret, {serial: der}) == []
        # the certificate's row as a new one is kept, and it comes out as it was signed
        with ctx.db.reading() as s:
            row = cert_store.get(s, serial)
        assert row.der.startswith(b"v1.") and row.tbs.startswith(b"v1.")
        assert row.subject == issued.subject.rfc4514_string().replace(
            PESEL, mask_pesel(PESEL)) and row.person_ref == ctx.people.ref(PESEL)
        assert cert_store.der_of(ctx.fields, serial, row.der) == der
        # what was sealed opens where it is used
        v = Visitor(_app(ctx), ctx).login("legacy", secret)
        assert v.get("/enrolments").status_code == 200
        with ctx.db.reading() as s:
            legacy_id = s.execute(select(Enrolment.id).where(
                Enrolment.officer == "officer")).scalar_one()
        found = enrol.find_by_pesel(read_only_store(ctx), PESEL, None)
        assert [e.id for e in found] == [legacy_id] and found[0].pesel == PESEL
        # a second start-up finds nothing left to do
        again = seal_clear_fields(CaContext.open(ctx.settings.home, ctx.clock))
        assert not again.changed
        ctx.db.dispose()
