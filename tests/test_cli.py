"""The command line: what it prints, what it refuses, and that a refusal changes nothing."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RESIDENT, STAFF, make_csr, new_key, run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from test_keypolicy import roca_key

from ca.store.models import ApiKey, Certificate

pytestmark = pytest.mark.hsm

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def files(tmp_path):
    def write(name, data):
        path = tmp_path / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return str(path)
    return write


def _counts(ctx):
    with ctx.db.reading() as s:
        return {status: s.scalar(select(func.count()).select_from(Certificate)
                                 .where(Certificate.status == status))
                for status in ("pending", "issued", "revoked", "abandoned")}


def _forged_csr() -> bytes:
    """A CSR whose signature was made by another key than the one it carries."""
    csr = x509.load_pem_x509_csr(make_csr())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # flip a bit inside the signature value
    return bytes(der)


def test_issue_prints_serial_and_writes_certificate(ctx, files, tmp_path):
    out = tmp_path / "cert.pem"
    r = run_cli(ctx.settings.home, "issue", "--profile", "staff-signing",
                "--csr", files("r.csr", make_csr()),
                "--subject", files("s.json", json.dumps(STAFF)),
                "--out", str(out))
    assert r.code == 0, r.err
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    assert r.out.strip() == format(cert.serial_number, "x")


@pytest.mark.parametrize("case", ["bad_pesel", "rsa1024", "roca", "forged_signature",
                                  "unknown_profile", "unknown_teryt", "garbage_csr"])
def test_refused_request_leaves_no_certificate_and_no_pending_row(ctx, files, case):
    subject, csr, profile = dict(RESIDENT), make_csr(), "resident-signing"
    expected = {"bad_pesel": "pesel", "rsa1024": "1024 bits", "roca": "ROCA",
                "forged_signature": "signature does not verify",
                "unknown_profile": "unknown profile", "unknown_teryt": "organization_teryt",
                "garbage_csr": "not a PKCS#10"}[case]
    if case == "bad_pesel":
        subject["pesel"] = "02270803625"
    elif case == "rsa1024":
        csr = make_csr(new_key("rsa-1024"))
    elif case == "roca":
        csr = make_csr(roca_key())
    elif case == "forged_signature":
        csr = _forged_csr()
    elif case == "unknown_profile":
        profile = "qualified-signing"
    elif case == "unknown_teryt":
        subject, profile = {**STAFF, "organization_teryt": "3062011"}, "staff-signing"
    elif case == "garbage_csr":
        csr = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    before = _counts(ctx)
    r = run_cli(ctx.settings.home, "issue", "--profile", profile, "--csr", files("r.csr", csr),
                "--subject", files("s.json", json.dumps(subject)))
    assert r.code != 0
    assert r.err.count("\n") == 1 and r.err.startswith("regca: error: ")
    assert expected in r.err and "Traceback" not in r.err
    assert _counts(ctx) == before


def test_init_refuses_to_overwrite_an_initialised_home(ctx):
    r = run_cli(ctx.settings.home, "init", "--demo")
    assert r.code == 1 and "refusing to overwrite" in r.err


def test_export_ca_writes_the_named_files_and_openssl_verifies_them(ctx, tmp_path):
    r = run_cli(ctx.settings.home, "export-ca", "--out", str(tmp_path))
    assert r.code == 0, r.err
    for name in ("root.pem", "issuing.pem", "chain.pem", "ocsp.pem", "tsa.pem", "seal.pem"):
        assert (tmp_path / name).exists()
    done = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "chain.pem"),
                           str(tmp_path / "ocsp.pem"), str(tmp_path / "tsa.pem"),
                           str(tmp_path / "seal.pem")], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.count(": OK") == 3, done.stdout + done.stderr


def test_revoke_takes_rfc5280_reason_names(ctx, files):
    serial = run_cli(ctx.settings.home, "issue", "--profile", "resident-signing",
                     "--csr", files("r.csr", make_csr()),
                     "--subject", files("s.json", json.dumps(RESIDENT))).out.strip()
    bad = run_cli(ctx.settings.home, "revoke", serial, "--reason", "lostToken")
    assert bad.code == 1 and "unknown revocation reason" in bad.err
    ok = run_cli(ctx.settings.home, "revoke", serial, "--reason", "keyCompromise")
    assert ok.code == 0 and "revoked (keyCompromise)" in ok.out
    missing = run_cli(ctx.settings.home, "revoke", "1234abcd", "--reason", "superseded")
    assert missing.code == 1 and "no certificate" in missing.err


def test_certificate_hold_then_remove_from_crl_restores_issued(ctx, files):
    serial = run_cli(ctx.settings.home, "issue", "--profile", "resident-signing",
                     "--csr", files("r.csr", make_csr()),
                     "--subject", files("s.json", json.dumps(RESIDENT))).out.strip()
    assert "certificateHold" in run_cli(ctx.settings.home, "revoke", serial, "--reason",
                                        "certificateHold").out
    assert run_cli(ctx.settings.home, "revoke", serial, "--reason",
                   "removeFromCRL").out.strip() == f"{serial} issued"


def test_org_add_validates_and_lists_by_teryt(ctx):
    bad = run_cli(ctx.settings.home, "org", "add", "--teryt", "0862016", "--name", "X")
    assert bad.code == 1 and bad.err.startswith("regca: error: teryt")
    bad_nip = run_cli(ctx.settings.home, "org", "add", "--teryt", "0810011", "--name", "X",
                      "--nip", "1234567890")
    assert bad_nip.code == 1 and "nip" in bad_nip.err
    ok = run_cli(ctx.settings.home, "org", "add", "--teryt", "0810011",
                 "--name", "Gmina Miasto Nowa Sól", "--nip", "9731000108")
    assert ok.code == 0, ok.err
    lines = run_cli(ctx.settings.home, "org", "list").out.splitlines()
    assert any(line.startswith("0810011\tGmina Miasto Nowa Sól") for line in lines)
    assert all(line[:7].isdigit() for line in lines)


def test_apikey_is_printed_once_and_only_its_hash_is_stored(ctx):
    r = run_cli(ctx.settings.home, "apikey", "create", "--name", "EOD Zielona Góra",
                "--scopes", "sign,verify", "--org", "0862011")
    assert r.code == 0, r.err
    key = r.out.strip()
    with ctx.db.reading() as s:
        rows = s.execute(select(ApiKey)).scalars().all()
    assert all(key not in (row.secret_hash, row.id, row.name) for row in rows)
    secret = key.split("_", 2)[2]  # rca_<id>_<secret>; the secret may itself hold "_"
    assert all(secret not in row.secret_hash for row in rows)
    bad = run_cli(ctx.settings.home, "apikey", "create", "--name", "x", "--scopes", "admin")
    assert bad.code == 1 and "scopes" in bad.err


def test_audit_verify_reports_intact_chain(ctx):
    r = run_cli(ctx.settings.home, "audit", "verify")
    assert r.code == 0 and r.out.startswith("audit log intact")


def test_missing_home_is_a_one_line_error(tmp_path):
    r = run_cli(tmp_path / "nowhere", "org", "list")
    assert r.code == 1 and "run `regca init` first" in r.err and r.err.count("\n") == 1


def test_staff_subject_on_certificate_matches_subj_json(ctx, files, tmp_path):
    out = tmp_path / "c.pem"
    run_cli(ctx.settings.home, "issue", "--profile", "staff-authentication",
            "--csr", files("r.csr", make_csr()), "--subject", files("s.json", json.dumps(STAFF)),
            "--out", str(out))
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.TITLE)[0].value == "Inspektor"
    assert cert.signature_hash_algorithm.name == hashes.SHA256.name



def test_issue_run_as_a_process_leaves_its_commit_in_the_database_file(tmp_path, files):
    """`regca` closes the home it opened when the command ends: SQLite's last connection then
    checkpoints the write-ahead log into the database file and syncs it (what a commit under
    synchronous=NORMAL does not), and removes the log, which it does only once all of it is
    in the file. Both commands run as processes, so no connection of this one stays open."""
    home = tmp_path / "home"

    def regca(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "regca.cli", "--home", str(home), *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert regca("init", "--demo").returncode == 0
    done = regca("issue", "--profile", "resident-signing", "--csr", files("r.csr", make_csr()),
                 "--subject", files("s.json", json.dumps(RESIDENT)))
    assert done.returncode == 0, done.stderr
    assert not (home / "regca.db-wal").exists()
    with contextlib.closing(sqlite3.connect(f"file:{home / 'regca.db'}?mode=ro", uri=True)) as db:
        status = db.execute("SELECT status FROM certificates WHERE serial = ?",
                            (done.stdout.strip(),)).fetchone()
    assert status == ("issued",)
