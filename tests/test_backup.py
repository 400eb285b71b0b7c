"""`regca backup` / `regca restore` (CONTRACT.md): the restore drill on SQLite and PostgreSQL,
and a restore that is refused leaves its directory, and its database, as they were found."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import PG_URL, PINNED, ROOT_PIN, backends, fresh_database, make_home, run_cli
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from revocation_support import issue
from werkzeug.test import Client

from ca.clock import FixedClock
from ca.context import CaContext
from ca.revocation import RevocationRequest, Revoker
from ca.store.db import Database
from regca.encrypted_stream import MAGIC

pytestmark = pytest.mark.hsm

PASSPHRASE = {"REGCA_BACKUP_PASSPHRASE": "Wojewoda-kopia-2026!"}


def _ocsp_answers(app, ctx: CaContext, certs) -> dict[str, tuple]:
    """Status, revocation time and reason of each certificate, asked over the WSGI app and
    checked against the responder's signature."""
    client = Client(app)
    root, issuing = ctx.certificate_of("root-ca"), ctx.certificate_of("issuing-ca")
    out = {}
    for cert in certs:
        issuer = root if cert.issuer == root.subject else issuing
        der = (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
               .build().public_bytes(Encoding.DER))
        reply = client.post("/ocsp", data=der,
                            headers={"Content-Type": "application/ocsp-request"})
        response = ocsp.load_der_ocsp_response(reply.data)
        assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        signer = (response.certificates or [issuer])[0]
        signer.public_key().verify(response.signature, response.tbs_response_bytes,
                                   *_verify_args(signer, response))
        out[format(cert.serial_number, "x")] = (
            response.certificate_status, response.revocation_time_utc,
            response.revocation_reason)
    return out


def _verify_args(signer, response):
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    if isinstance(signer.public_key(), ec.EllipticCurvePublicKey):
        return (ec.ECDSA(response.signature_hash_algorithm),)
    return (padding.PKCS1v15(), response.signature_hash_algorithm)


def _every_certificate(ctx: CaContext, earlier):
    return [ctx.certificate_of(p) for p in ("issuing-ca", "ocsp-responder", "tsa", "seal")] + [
        c for c in earlier]


@pytest.mark.parametrize("backend", backends())
def test_restore_drill_backup_delete_restore_serve(backend, tmp_path):
    from regca.wsgi import create_app
    with fresh_database(backend, tmp_path) as url:
        home = tmp_path / "home"
        ctx = make_home(home, url)
        issued = [issue(ctx, tmp_path, f"ee{i}") for i in range(3)]
        Revoker(ctx).revoke(RevocationRequest(issued[1][0], "keyCompromise", "test"))
        certs = _every_certificate(ctx, [cert for _, cert, _ in issued])
        before = _ocsp_answers(create_app(home, ctx), ctx, certs)
        assert before[issued[1][0]][0] == ocsp.OCSPCertStatus.REVOKED
        serials_before = {*before, format(ctx.certificate_of("root-ca").serial_number, "x")}
        backup = tmp_path / "regca-backup.bin"
        done = run_cli(home, "backup", "--out", str(backup), env=PASSPHRASE)
        assert done.code == 0, done.err
        assert backup.read_bytes().startswith(MAGIC)

        # The loss: the home is gone, and so is the database behind it.
        ctx.db.dispose()
        shutil.rmtree(home)
        if backend == "postgres":
            Database(url).drop_all_tables()
        assert not home.exists()

        done = run_cli(home, "restore", "--from", str(backup), env=PASSPHRASE)
        assert done.code == 0, done.err
        restored = CaContext.open(home, FixedClock(PINNED))
        after = _ocsp_answers(create_app(home, restored), restored, certs)
        assert after == before

        # Issuance goes on in the restored HSM, with serials unlike any earlier one.
        new = [issue(restored, tmp_path, f"new{i}")[0] for i in range(3)]
        assert len(set(new)) == 3 and not set(new) & serials_before
        verified = run_cli(home, "audit", "verify")
        assert verified.code == 0, verified.err
        restored.db.dispose()


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory):
    """One SQLite home and its backup file, for the refusals."""
    tmp = tmp_path_factory.mktemp("backed-up")
    ctx = make_home(tmp / "home")
    backup = tmp / "backup.bin"
    assert run_cli(ctx.settings.home, "backup", "--out", str(backup), env=PASSPHRASE).code == 0
    ctx.db.dispose()
    return backup


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_wrong_passphrase_is_refused_and_an_absent_home_stays_absent(backed_up, tmp_path):
    target = tmp_path / "restored"
    done = run_cli(target, "restore", "--from", str(backed_up),
                   env={"REGCA_BACKUP_PASSPHRASE": "not the passphrase"})
    assert done.code == 1
    assert done.err.strip() == "regca: error: wrong passphrase, or the backup file is damaged"
    assert not target.exists()
    assert _siblings(target) == []  # no half-restored directory beside it


def test_wrong_passphrase_leaves_an_empty_home_empty(backed_up, tmp_path):
    target = tmp_path / "restored"
    target.mkdir()
    done = run_cli(target, "restore", "--from", str(backed_up),
                   env={"REGCA_BACKUP_PASSPHRASE": "not the passphrase"})
    assert done.code == 1
    assert list(target.iterdir()) == [] and _siblings(target) == ["restored"]


def test_restore_into_a_directory_with_files_is_refused(backed_up, tmp_path):
    target = tmp_path / "restored"
    target.mkdir()
    (target / "notes.txt").write_text("operator's notes\n")
    done = run_cli(target, "restore", "--from", str(backed_up), env=PASSPHRASE)
    assert done.code == 1 and "absent or empty" in done.err
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_restore_into_an_empty_directory_works(backed_up, tmp_path):
    target = tmp_path / "restored"
    target.mkdir()
    done = run_cli(target, "restore", "--from", str(backed_up), env=PASSPHRASE)
    assert done.code == 0, done.err
    assert run_cli(target, "audit", "verify").code == 0
    assert _siblings(target) == ["restored"]
    # The root's PIN was in no file of the backed-up home, so in none of the restored one; the
    # restored root token opens with the PIN its officers keep.
    assert not [p for p in target.rglob("*") if p.is_file() and ROOT_PIN.encode() in p.read_bytes()]
    assert run_cli(target, "ceremony", "root", env={"REGCA_ROOT_PIN": ROOT_PIN}).code == 0


@pytest.mark.parametrize("damage", ["flipped-byte", "truncated", "version", "appended"])
def test_damaged_backup_is_refused_and_changes_nothing(backed_up, tmp_path, damage):
    data = bytearray(backed_up.read_bytes())
    if damage == "flipped-byte":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncated":
        del data[-100:]
    elif damage == "version":
        data[len(MAGIC)] = 2
    else:
        data += b"\x00" * 32
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(data))
    target = tmp_path / "restored"
    done = run_cli(target, "restore", "--from", str(bad), env=PASSPHRASE)
    assert done.code == 1 and done.err.count("\n") == 1, done.err
    assert not target.exists() and _siblings(target) == ["bad.bin"]


def test_backup_is_encrypted_throughout(backed_up, tmp_path):
    """Nothing of the home reads in clear: no file name, no PEM, no TOML, no SQLite header."""
    data = backed_up.read_bytes()
    for clear in (b"regca.toml", b"BEGIN", b"public_url", b"SQLite format 3", b"softhsm",
                  b"manifest.json"):
        assert clear not in data


def test_backup_and_restore_need_the_passphrase(backed_up, tmp_path):
    done = run_cli(tmp_path / "restored", "restore", "--from", str(backed_up),
                   env={"REGCA_BACKUP_PASSPHRASE": ""})
    assert done.code == 1 and "REGCA_BACKUP_PASSPHRASE" in done.err
    assert not (tmp_path / "restored").exists()


def test_restore_of_a_missing_file_is_one_line(tmp_path):
    done = run_cli(tmp_path / "restored", "restore", "--from", str(tmp_path / "none.bin"),
                   env=PASSPHRASE)
    assert done.code == 1 and done.err.count("\n") == 1 and "no such file" in done.err


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="REGCA_TEST_DATABASE_URL not set")
def test_postgres_restore_refuses_a_database_that_is_not_empty(tmp_path):
    with fresh_database("postgres", tmp_path) as url:
        ctx = make_home(tmp_path / "home", url)
        backup = tmp_path / "backup.bin"
        assert run_cli(ctx.settings.home, "backup", "--out", str(backup),
                       env=PASSPHRASE).code == 0
        with ctx.db.reading() as s:
            from ca.store.audit import verify_chain
            events_before = verify_chain(s)[0]
        target = tmp_path / "restored"
        done = run_cli(target, "restore", "--from", str(backup),
                       env={**PASSPHRASE, "REGCA_DATABASE_URL": url})
        assert done.code == 1 and "not empty" in done.err
        assert not target.exists()
        with ctx.db.reading() as s:
            assert verify_chain(s)[0] == events_before  # the live database is untouched
        ctx.db.dispose()
