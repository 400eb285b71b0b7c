"""`regca token enroll`: keys generated on a SoftHSM2 token in a store of its own, CSR signed by
the token, certificate and chain written back; pkcs11-tool and openssl are the judges."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from conftest import RESIDENT, STAFF, run_cli
from cryptography import x509
from sqlalchemy import func, select
from tokens import MODULE, make_token

from ca.store.models import Certificate
from ra.apikeys import create_api_key
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm


@pytest.fixture
def token(tmp_path):
    return make_token(tmp_path / "user-token")


@pytest.fixture
def subject_file(tmp_path):
    def write(subject):
        path = tmp_path / "subject.json"
        path.write_text(json.dumps(subject, ensure_ascii=False))
        return str(path)
    return write


def _enroll(ctx, token, subject_path, *profiles, pin=None, label=None, extra=()):
    args = ["token", "enroll", "--module", MODULE, "--token-label", label or token.label,
            "--pin", pin or token.pin, "--subject", subject_path]
    for p in profiles:
        args += ["--profile", p]
    return run_cli(ctx.settings.home, *args, *extra, env={"SOFTHSM2_CONF": str(token.conf)})


def _certificate_count(ctx) -> int:
    with ctx.db.reading() as s:
        return s.execute(select(func.count()).select_from(Certificate)).scalar_one()


def test_enroll_key_is_sensitive_never_extractable_with_certificate_under_same_id(
        sqlite_ctx, token, subject_file):
    r = _enroll(sqlite_ctx, token, subject_file(RESIDENT), "resident-signing")
    assert r.code == 0, r.err
    serial, profile, key_id, label = r.out.split()
    objects = token.objects()
    keys = [o for o in objects if o["kind"].startswith("Private Key")]
    assert len(keys) == 1
    access = [a.strip() for a in keys[0]["access"].split(",")]
    assert "sensitive" in access and "never extractable" in access
    assert "extractable" not in access
    certs = [o for o in objects if o["kind"].startswith("Certificate")]
    mine = [c for c in certs if c["id"] == keys[0]["id"]]
    assert len(mine) == 1 and mine[0]["label"] == "resident-signing" == keys[0]["label"]
    # pkcs11-tool prints the serial in whole octets ("0f..."); ours has no leading zero
    assert key_id == f"id={keys[0]['id']}" and int(serial, 16) == int(mine[0]["serial"], 16)
    assert {c["label"] for c in certs} == {"resident-signing", "RegCA Issuing CA",
                                          "RegCA Root CA"}


def test_token_signature_verifies_with_issued_certificate(sqlite_ctx, token, subject_file,
                                                          tmp_path):
    r = _enroll(sqlite_ctx, token, subject_file(RESIDENT), "resident-signing")
    assert r.code == 0, r.err
    key_id = r.out.split()[2].removeprefix("id=")
    der = token.pkcs11_tool("--read-object", "--type", "cert", "--id", key_id).stdout
    cert = x509.load_der_x509_certificate(der)
    (tmp_path / "cert.der").write_bytes(der)
    data = tmp_path / "document.txt"
    data.write_bytes(b"Wniosek o wydanie zaswiadczenia\n")
    digest = tmp_path / "digest.bin"
    subprocess.run(["openssl", "dgst", "-sha256", "-binary", "-out", str(digest), str(data)],
                   check=True)
    sig = tmp_path / "sig.der"
    # SoftHSM2 has no CKM_ECDSA_SHA256: the digest is hashed outside, signed with CKM_ECDSA.
    token.pkcs11_tool("--sign", "--id", key_id, "--mechanism", "ECDSA", "--input-file",
                      str(digest), "--output-file", str(sig), "--signature-format", "openssl")
    pub = tmp_path / "pub.pem"
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in", str(tmp_path / "cert.der"),
                    "-pubkey", "-noout", "-out", str(pub)], check=True)
    done = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature",
                           str(sig), str(data)], capture_output=True, text=True)
    assert done.returncode == 0 and "Verified OK" in done.stdout
    assert cert.serial_number == int(r.out.split()[0], 16)


def test_two_profiles_on_one_token_in_one_go(sqlite_ctx, token, subject_file):
    r = _enroll(sqlite_ctx, token, subject_file(STAFF), "staff-signing", "staff-authentication")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert [line.split()[1] for line in lines] == ["staff-signing", "staff-authentication"]
    objects = token.objects()
    key_ids = {o["id"] for o in objects if o["kind"].startswith("Private Key")}
    cert_ids = {o["id"] for o in objects if o["kind"].startswith("Certificate")}
    assert len(key_ids) == 2 and key_ids <= cert_ids
    # the chain is written once, not once per key
    assert sum(o["kind"].startswith("Certificate") for o in objects) == 4


@pytest.mark.parametrize("case", ["wrong_pin", "absent_token", "bad_pesel", "taken_label"])
def test_refused_enrolment_is_one_line_and_changes_nothing(sqlite_ctx, token, subject_file,
                                                            case):
    if case == "taken_label":
        assert _enroll(sqlite_ctx, token, subject_file(RESIDENT), "resident-signing").code == 0
    before_objects, before_certs = token.objects(), _certificate_count(sqlite_ctx)
    subject = dict(RESIDENT, pesel="02270803625") if case == "bad_pesel" else RESIDENT
    r = _enroll(sqlite_ctx, token, subject_file(subject), "resident-signing",
                pin="000000" if case == "wrong_pin" else None,
                label="Nie ma takiej karty" if case == "absent_token" else None)
    assert r.code == 1
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    expected = {"wrong_pin": "wrong PIN", "absent_token": "no token labelled",
                "bad_pesel": "pesel:", "taken_label": "already holds a key"}[case]
    assert expected in r.err
    assert token.objects() == before_objects
    assert _certificate_count(sqlite_ctx) == before_certs


def test_full_token_is_refused_and_left_unchanged(sqlite_ctx, tmp_path, subject_file):
    store = tmp_path / "full"
    store.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(store)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("a full token is simulated with a tiny tmpfs, which needs root to mount")
    try:
        token = make_token(store)
        before = token.objects()
        with open(store / "tokens" / "filler", "wb") as f:  # fill the store's file system
            try:
                f.write(b"\0" * 1024 * 1024)
            except OSError:
                pass
        r = _enroll(sqlite_ctx, token, subject_file(RESIDENT), "resident-signing")
        assert r.code == 1 and "is full" in r.err
        (store / "tokens" / "filler").unlink()
        assert token.objects() == before
    finally:
        subprocess.run(["umount", str(store)], check=False)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_enroll_through_ra_api_with_api_key(sqlite_ctx, token, subject_file):
    """The officer's workstation: the token from the caller's SOFTHSM2_CONF, the CA over HTTP
    (served from this process, so the one SoftHSM2 library switches store both ways)."""
    server = make_server("127.0.0.1", 0, create_app(sqlite_ctx.settings.home, sqlite_ctx),
                         handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        key = create_api_key(sqlite_ctx, "stanowisko ZG", ["issue"], "0862011")
        url = f"http://127.0.0.1:{server.server_port}"
        r = _enroll(sqlite_ctx, token, subject_file(STAFF), "staff-signing",
                    extra=("--ca-url", url, "--api-key", key))
        assert r.code == 0, r.err
        assert any(o["label"] == "staff-signing" and o["kind"].startswith("Certificate")
                   for o in token.objects())
        other = create_api_key(sqlite_ctx, "stanowisko GW", ["issue"], "0861011")
        before = token.objects()
        refused = _enroll(sqlite_ctx, token, subject_file(STAFF), "staff-authentication",
                          extra=("--ca-url", url, "--api-key", other))
        assert refused.code == 1 and "forbidden" in refused.err
        assert token.objects() == before  # the key generated for it was deleted again
    finally:
        server.shutdown()


def test_certificates_that_cannot_be_written_are_revoked_and_keys_deleted(sqlite_ctx, token):
    """Step 4b: a CA answer the token cannot take (here a chain certificate without a subject
    key identifier, so it has no CKA_ID) leaves no key behind and no valid certificate."""
    from conftest import new_key
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    from ca.store import certificates as cert_store
    from ra.personalisation import Issued, LocalCa, PersonalisationRequest, personalise
    from ra.token import TokenError, TokenRef
    from regca.roles import issuing_ca

    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no SKI")])
    bare = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(sqlite_ctx.now()).not_valid_after(sqlite_ctx.now())
            .sign(key, hashes.SHA256()))

    class OddChain(LocalCa):
        def issue(self, profile, csr, subject):
            done = super().issue(profile, csr, subject)
            return Issued(done.serial, done.certificate, [bare])

    before = token.objects()
    ca = OddChain(issuing_ca(sqlite_ctx), "test")
    with pytest.raises(TokenError, match="revoked .cessationOfOperation.") as err:
        personalise(PersonalisationRequest(TokenRef(MODULE, token.label, str(token.conf)),
                                           token.pin, ("resident-signing",), RESIDENT), ca)
    assert token.objects() == before
    serials = re.search(r"certificates ([0-9a-f, ]+) were revoked", str(err.value))[1]
    with sqlite_ctx.db.reading() as s:
        rows = [cert_store.get(s, serial) for serial in serials.split(", ")]
    assert [(r.status, r.revocation_reason) for r in rows] == [
        ("revoked", "cessationOfOperation")]


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_workstation_enrols_against_regca_serve_in_separate_processes(sqlite_ctx, token,
                                                                      subject_file):
    """The contract's workstation flow with nothing shared: `regca serve` (gunicorn) in one
    process with the CA's SoftHSM2 store, `regca token enroll --ca-url` in another with the
    token's store in its own SOFTHSM2_CONF."""
    import os
    import sys
    import time
    import urllib.request
    home = str(sqlite_ctx.settings.home)
    regca = [sys.executable, "-m", "regca.cli", "--home", home]
    port = _free_port()
    server = subprocess.Popen([*regca, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        key = create_api_key(sqlite_ctx, "stanowisko 2", ["issue"], "0862011")
        env = dict(os.environ, SOFTHSM2_CONF=str(token.conf))
        done = subprocess.run([*regca, "token", "enroll", "--module", MODULE, "--token-label",
                               token.label, "--pin", token.pin, "--profile", "staff-signing",
                               "--profile", "staff-authentication", "--subject",
                               subject_file(STAFF), "--ca-url", f"http://127.0.0.1:{port}",
                               "--api-key", key], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert [line.split("\t")[1] for line in done.stdout.splitlines()] == [
            "staff-signing", "staff-authentication"]
        certs = [o for o in token.objects() if o["kind"].startswith("Certificate")]
        assert {c["label"] for c in certs} >= {"staff-signing", "staff-authentication"}
    finally:
        server.terminate()
        server.wait(timeout=30)
