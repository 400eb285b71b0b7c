"""The TSA over real HTTP, judged by the real ``openssl ts`` (RFC 3161, RFC 5816)."""

from __future__ import annotations

import pytest
from conftest import run_cli
from tsa_support import make_query, openssl, post, reply_text, wsgi_thread

from regca.wsgi import create_app

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def served(sqlite_ctx, tmp_path_factory):
    """(base URL, work directory holding chain.pem and tsa.pem from ``regca export-ca``)."""
    work = tmp_path_factory.mktemp("tsa-openssl")
    assert run_cli(sqlite_ctx.settings.home, "export-ca", "--out", str(work)).code == 0
    with wsgi_thread(create_app(sqlite_ctx.settings.home, sqlite_ctx)) as base:
        yield base, work


def _timestamp(served, name: str, *options: str) -> tuple:
    base, work = served
    query = make_query(work, name, *options)
    status, ctype, body = post(base + "/tsa", query.read_bytes())
    (work / f"{name}.tsr").write_bytes(body)
    return status, ctype, work / f"{name}.tsr", work


@pytest.mark.parametrize("cert_req", [True, False], ids=["certreq", "no-certreq"])
@pytest.mark.parametrize("nonce", [True, False], ids=["nonce", "no-nonce"])
@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
def test_openssl_verifies_token(served, digest, nonce, cert_req):
    options = [f"-{digest}"] + ([] if nonce else ["-no_nonce"]) + (["-cert"] if cert_req else [])
    name = f"{digest}-{nonce}-{cert_req}"
    status, ctype, reply, work = _timestamp(served, name, *options)
    assert (status, ctype) == (200, "application/timestamp-reply")
    done = openssl("ts", "-verify", "-in", reply.name, "-queryfile", f"{name}.tsq",
                   "-CAfile", "chain.pem", "-untrusted", "tsa.pem", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verification: OK" in done.stdout


def test_token_carries_certificate_only_when_asked(served):
    _, work = served
    _, _, with_cert, _ = _timestamp(served, "with-cert", "-cert")
    _, _, without, _ = _timestamp(served, "without-cert")
    for reply, expected in ((with_cert, 0), (without, 2)):
        # Without the certificate in the token, openssl can only verify with -untrusted.
        done = openssl("ts", "-verify", "-in", reply.name, "-queryfile",
                       reply.with_suffix(".tsq").name, "-CAfile", "chain.pem", cwd=work)
        assert (done.returncode == 0) == (expected == 0), done.stderr


def test_token_states_policy_accuracy_and_echoes_nonce(served):
    _, _, reply, work = _timestamp(served, "fields", "-sha256")
    text = reply_text(work, reply)
    query_text = openssl("ts", "-query", "-in", "fields.tsq", "-text", cwd=work).stdout
    nonce = next(line for line in query_text.splitlines() if line.startswith("Nonce:"))
    assert nonce in text
    assert "Policy OID: 1.3.6.1.4.1.99999.616.3.1" in text
    assert "Accuracy: 0x01 seconds" in text
    assert "TSA: DirName:" in text and "Time-Stamping Unit" in text


def test_our_policy_requested_is_granted(served):
    _, _, reply, work = _timestamp(served, "ours", "-tspolicy", "1.3.6.1.4.1.99999.616.3.1")
    assert "Status: Granted." in reply_text(work, reply)


def test_foreign_policy_is_rejected_with_unaccepted_policy(served):
    status, _, reply, work = _timestamp(served, "foreign", "-tspolicy", "1.2.3.4.5")
    text = reply_text(work, reply)
    assert status == 200
    assert "Status: Rejected." in text
    assert "Failure info: the requested TSA policy is not supported by the TSA" in text


def test_serials_differ_between_tokens(served):
    serials = set()
    for i in range(3):
        _, _, reply, work = _timestamp(served, f"serial{i}")
        line = next(x for x in reply_text(work, reply).splitlines()
                    if x.startswith("Serial number:"))
        serials.add(line)
    assert len(serials) == 3


@pytest.mark.parametrize("algorithm, signature", [("ec-p384", "ecdsa-with-SHA384"),
                                                  ("rsa-2048", "rsaEncryption")])
def test_openssl_verifies_tokens_of_other_tsa_keys(tmp_path, algorithm, signature):
    from conftest import PINNED
    from tsa_support import home_with_tsa_key

    from ca.clock import FixedClock

    ctx = home_with_tsa_key(tmp_path / "home", algorithm, FixedClock(PINNED))
    assert run_cli(ctx.settings.home, "export-ca", "--out", str(tmp_path)).code == 0
    query = make_query(tmp_path, "q", "-sha512", "-cert")
    with wsgi_thread(create_app(ctx.settings.home, ctx)) as base:
        _, _, body = post(base + "/tsa", query.read_bytes())
    (tmp_path / "r.tsr").write_bytes(body)
    done = openssl("ts", "-verify", "-in", "r.tsr", "-queryfile", "q.tsq",
                   "-CAfile", "chain.pem", "-untrusted", "tsa.pem", cwd=tmp_path)
    assert "Verification: OK" in done.stdout, done.stderr
    token = openssl("ts", "-reply", "-in", "r.tsr", "-token_out", "-out", "t.der", cwd=tmp_path)
    assert token.returncode == 0
    dump = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", "t.der", cwd=tmp_path)
    assert f"algorithm: {signature}" in dump.stdout
    ctx.db.dispose()
