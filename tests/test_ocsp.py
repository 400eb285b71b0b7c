"""The OCSP responder over real HTTP (``regca serve``), judged by the real openssl client
and pkilint (RFC 6960, RFC 5019, RFC 8954)."""

from __future__ import annotations

import base64
import datetime as dt
import time
import urllib.parse

import pytest
from asn1crypto import ocsp as a_ocsp
from conftest import ROOT_PIN, backends, run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from revocation_support import http, issue, openssl, pkilint_findings, post_ocsp, served_on

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module", params=backends())
def served(request, tmp_path_factory):
    with served_on(request.param, tmp_path_factory.mktemp(f"ocsp-{request.param}")) as s:
        yield s


def ask(served, cert_path, *extra, issuer="issuing.pem", cafile="chain.pem", digest=()):
    """`openssl ocsp` against the served responder; returns its stdout + stderr."""
    c = served.certs
    done = openssl("ocsp", "-issuer", str(c / issuer), *digest, "-cert", str(cert_path),
                   "-url", served.base + "/ocsp", "-CAfile", str(c / cafile), *extra)
    return done.stdout + done.stderr


def request_der(cert, issuer, algorithm=None, nonce: bytes | None = None) -> bytes:
    algorithm = algorithm or hashes.SHA1()
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm)
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(Encoding.DER)


def test_openssl_reports_good_then_revoked_with_reason(served, tmp_path):
    serial, _, ee = issue(served.ctx, tmp_path)
    out = ask(served, ee)
    assert f"{ee}: good" in out and "Response verify OK" in out
    assert run_cli(served.home, "revoke", serial, "--reason", "keyCompromise").code == 0
    revoked_at = time.monotonic()
    out = ask(served, ee)  # with a nonce: signed on demand
    assert f"{ee}: revoked" in out and "Reason: keyCompromise" in out
    out = ask(served, ee, "-no_nonce")  # the pre-signed response, replaced on revocation
    assert f"{ee}: revoked" in out and "Reason: keyCompromise" in out
    assert time.monotonic() - revoked_at < 1.0


def test_get_request_url_encoded_or_not_reports_revoked(served, tmp_path):
    serial, _, ee = issue(served.ctx, tmp_path)
    c = served.certs
    openssl("ocsp", "-issuer", str(c / "issuing.pem"), "-cert", str(ee), "-no_nonce",
            "-reqout", str(tmp_path / "req.der"))
    b64 = base64.b64encode((tmp_path / "req.der").read_bytes()).decode()
    for path in (urllib.parse.quote(b64, safe=""), b64):
        status, headers, body = http(f"{served.base}/ocsp/{path}")
        assert status == 200 and headers["Content-Type"] == "application/ocsp-response"
        (tmp_path / "resp.der").write_bytes(body)
        out = openssl("ocsp", "-respin", str(tmp_path / "resp.der"), "-issuer",
                      str(c / "issuing.pem"), "-cert", str(ee), "-CAfile", str(c / "chain.pem"))
        assert f"{ee}: good" in out.stdout
    run_cli(served.home, "revoke", serial, "--reason", "superseded")
    status, headers, body = http(f"{served.base}/ocsp/{urllib.parse.quote(b64, safe='')}")
    (tmp_path / "resp.der").write_bytes(body)
    out = openssl("ocsp", "-respin", str(tmp_path / "resp.der"), "-issuer",
                  str(c / "issuing.pem"), "-cert", str(ee), "-CAfile", str(c / "chain.pem"))
    assert f"{ee}: revoked" in out.stdout and "Reason: superseded" in out.stdout
    assert pkilint_findings("ocsp", body, tmp_path) == []


def test_unknown_serial_reports_unknown(served, tmp_path):
    c = served.certs
    out = openssl("ocsp", "-issuer", str(c / "issuing.pem"), "-serial", "0x1234567890abcdef",
                  "-url", served.base + "/ocsp", "-CAfile", str(c / "chain.pem"),
                  "-respout", str(tmp_path / "unknown.der"))
    assert "0x1234567890abcdef: unknown" in out.stdout
    assert pkilint_findings("ocsp", (tmp_path / "unknown.der").read_bytes(), tmp_path) == []


@pytest.mark.parametrize("digest", ["-sha1", "-sha256"])
def test_sha1_and_sha256_cert_ids_are_answered(served, tmp_path, digest):
    _, _, ee = issue(served.ctx, tmp_path)
    for nonce in ((), ("-no_nonce",)):
        out = ask(served, ee, *nonce, digest=(digest,))
        assert f"{ee}: good" in out and "Response verify OK" in out


def test_issuing_ca_status_is_presigned_by_root(served, tmp_path):
    out = ask(served, served.certs / "issuing.pem", "-respout", str(tmp_path / "root.der"),
              issuer="root.pem", cafile="root.pem")
    assert "issuing.pem: good" in out and "Response verify OK" in out
    # The offline root key signs nothing on demand: the nonce is left unanswered.
    assert "WARNING: no nonce in response" in out
    assert pkilint_findings("ocsp", (tmp_path / "root.der").read_bytes(), tmp_path) == []


def test_several_cert_ids_in_one_request(served, tmp_path):
    serials, paths = [], []
    for i in range(3):
        serial, _, path = issue(served.ctx, tmp_path, name=f"ee{i}")
        serials.append(serial)
        paths.append(path)
    run_cli(served.home, "revoke", serials[1], "--reason", "affiliationChanged")
    args = [a for p in paths for a in ("-cert", str(p))]
    c = served.certs
    out = openssl("ocsp", "-issuer", str(c / "issuing.pem"), *args, "-url",
                  served.base + "/ocsp", "-CAfile", str(c / "chain.pem"),
                  "-respout", str(tmp_path / "multi.der"))
    text = out.stdout
    assert f"{paths[0]}: good" in text and f"{paths[2]}: good" in text
    assert f"{paths[1]}: revoked" in text and "Reason: affiliationChanged" in text
    assert pkilint_findings("ocsp", (tmp_path / "multi.der").read_bytes(), tmp_path) == []


def test_cache_headers_follow_rfc5019(served, tmp_path):
    _, cert, _ = issue(served.ctx, tmp_path)
    der = request_der(cert, served.ctx.certificate_of("issuing-ca"))
    url = f"{served.base}/ocsp/{urllib.parse.quote(base64.b64encode(der).decode(), safe='')}"
    status, headers, body = http(url)
    resp = ocsp.load_der_ocsp_response(body)
    assert status == 200 and resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    max_age = int(headers["Cache-Control"].split("max-age=")[1].split(",")[0])
    left = (resp.next_update_utc - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert 0 < max_age <= left + 1
    assert "public" in headers["Cache-Control"] and headers["ETag"].startswith('"')
    assert resp.this_update_utc == dt.datetime.strptime(
        headers["Last-Modified"], "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=dt.timezone.utc)
    status, _, body = http(url, headers={"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""
    assert pkilint_findings("ocsp", resp.public_bytes(Encoding.DER), tmp_path) == []


def test_nonce_is_echoed_and_response_not_cacheable(served, tmp_path):
    _, cert, _ = issue(served.ctx, tmp_path)
    nonce = bytes(range(32))
    _, headers, body = post_ocsp(served.base, request_der(
        cert, served.ctx.certificate_of("issuing-ca"), hashes.SHA256(), nonce))
    resp = ocsp.load_der_ocsp_response(body)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert headers["Cache-Control"] == "no-store"
    assert pkilint_findings("ocsp", body, tmp_path) == []


@pytest.mark.parametrize("length", [0, 33, 1000])
def test_nonce_outside_rfc8954_bounds_is_malformed(served, length):
    cert = served.ctx.certificate_of("ocsp-responder")
    der = request_der(cert, served.ctx.certificate_of("issuing-ca"), nonce=b"n" * length)
    _, _, body = post_ocsp(served.base, der)
    assert ocsp.load_der_ocsp_response(body).response_status == \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_unknown_issuer_is_unauthorized(served):
    der = (ocsp.OCSPRequestBuilder()
           .add_certificate_by_hash(b"\x01" * 20, b"\x02" * 20, 12345, hashes.SHA1())
           .build().public_bytes(Encoding.DER))
    _, _, body = post_ocsp(served.base, der)
    assert ocsp.load_der_ocsp_response(body).response_status == \
        ocsp.OCSPResponseStatus.UNAUTHORIZED


def _thousand_cert_ids(served) -> bytes:
    one = a_ocsp.OCSPRequest.load(request_der(served.ctx.certificate_of("ocsp-responder"),
                                              served.ctx.certificate_of("issuing-ca")))
    item = one["tbs_request"]["request_list"][0]
    return a_ocsp.OCSPRequest({"tbs_request": {"request_list": [item] * 1000}}).dump()


@pytest.mark.parametrize("case", ["random-1MiB", "empty", "truncated", "wrong-type",
                                  "1000-cert-ids", "garbage-get"])
def test_hostile_requests_get_ocsp_errors_and_worker_stays_up(served, case):
    good = request_der(served.ctx.certificate_of("ocsp-responder"),
                       served.ctx.certificate_of("issuing-ca"))
    if case == "garbage-get":
        status, headers, body = http(served.base + "/ocsp/%%%not-base64!!")
    else:
        body_in, ctype = {
            "random-1MiB": (__import__("os").urandom(1 << 20), "application/ocsp-request"),
            "empty": (b"", "application/ocsp-request"),
            "truncated": (good[:-7], "application/ocsp-request"),
            "wrong-type": (b"<html>not OCSP</html>", "text/html"),
            "1000-cert-ids": (_thousand_cert_ids(served), "application/ocsp-request"),
        }[case]
        status, headers, body = post_ocsp(served.base, body_in, ctype)
    assert status == 200 and headers["Content-Type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(body).response_status == \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    # The worker still answers a good request.
    _, _, body = post_ocsp(served.base, good)
    assert ocsp.load_der_ocsp_response(body).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_other_methods_get_an_ocsp_error_not_html(served):
    status, headers, body = http(served.base + "/ocsp", method="PUT", data=b"x")
    assert status == 405 and headers["Content-Type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(body).response_status == \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_hold_then_release_reports_revoked_then_good(served, tmp_path):
    serial, _, ee = issue(served.ctx, tmp_path)
    run_cli(served.home, "revoke", serial, "--reason", "certificateHold")
    out = ask(served, ee, "-no_nonce")
    assert f"{ee}: revoked" in out and "Reason: certificateHold" in out
    run_cli(served.home, "revoke", serial, "--reason", "removeFromCRL")
    assert f"{ee}: good" in ask(served, ee, "-no_nonce")


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=["sha1", "sha256"])
def test_response_signed_on_a_miss_is_kept_for_the_next_request(served, tmp_path, algorithm):
    """A SHA-256 CertID is not pre-signed at issuance: its first request is such a miss."""
    from ca.store import ocsp as ocsp_store
    serial, cert, _ = issue(served.ctx, tmp_path)
    with served.ctx.db.transaction() as s:
        ocsp_store.invalidate(s, serial)
    der = request_der(cert, served.ctx.certificate_of("issuing-ca"), algorithm)
    _, _, body = post_ocsp(served.base, der)
    response = ocsp.load_der_ocsp_response(body)
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert response.hash_algorithm.name == algorithm.name
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with served.ctx.db.reading() as s:
            if ocsp_store.cached(s, serial, algorithm.name) is not None:
                break
        time.sleep(0.1)
    with served.ctx.db.reading() as s:
        assert ocsp_store.cached(s, serial, algorithm.name)[0] == body
    _, _, again = post_ocsp(served.base, der)
    assert again == body  # answered from the store now


def test_root_answers_only_from_presigned_responses(served, tmp_path):
    """RFC 5019 §2.2.3: with no pre-produced response the answer is `unauthorized`; the
    offline root signs again only at a ceremony (`regca ceremony root-ocsp`)."""
    from ca.store import ocsp as ocsp_store
    issuing = served.ctx.certificate_of("issuing-ca")
    serial = format(issuing.serial_number, "x")
    der = request_der(issuing, served.ctx.certificate_of("root-ca"))
    with served.ctx.db.transaction() as s:
        ocsp_store.invalidate(s, serial)
    _, _, body = post_ocsp(served.base, der)
    assert ocsp.load_der_ocsp_response(body).response_status == \
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert run_cli(served.home, "ceremony", "root-ocsp", env={"REGCA_ROOT_PIN": ROOT_PIN}).code == 0
    _, _, body = post_ocsp(served.base, der)
    assert ocsp.load_der_ocsp_response(body).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_cert_id_with_a_hash_not_served_is_unauthorized(served):
    der = request_der(served.ctx.certificate_of("ocsp-responder"),
                      served.ctx.certificate_of("issuing-ca"), hashes.SHA384())
    _, _, body = post_ocsp(served.base, der)
    assert ocsp.load_der_ocsp_response(body).response_status == \
        ocsp.OCSPResponseStatus.UNAUTHORIZED
