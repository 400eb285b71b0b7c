"""`regca serve` under granian, its default server: every worker process signs with a PKCS#11
session of its own (opened after the fork), requests are in the access log, and SIGHUP replaces
the workers while the service keeps answering."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest
from asn1crypto import tsp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from revocation_support import issue
from tsa_support import make_query, post, regca_serve, server_workers

pytestmark = [pytest.mark.hsm, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(home):
    with regca_serve(home.settings.home, workers=2) as (base, proc):
        deadline = time.monotonic() + 30
        while len(server_workers(proc)) < 2:
            assert time.monotonic() < deadline, "granian did not start two workers"
            time.sleep(0.1)
        yield base, proc, home


def _post_to_running(url: str, body: bytes, content_type: str) -> tuple[int, str, bytes]:
    """POST on a fresh connection, again until a running worker answers: granian's workers
    each listen on a SO_REUSEPORT socket of their own, so the kernel may queue a connection
    at the stopped one."""
    for _ in range(20):
        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=2) as resp:
                return resp.status, resp.headers["Content-Type"], resp.read()
        except (TimeoutError, urllib.error.URLError) as exc:
            if not isinstance(getattr(exc, "reason", exc), TimeoutError):
                raise
    raise AssertionError("no running worker answered")


def _ocsp_miss(base: str, ctx, cert) -> ocsp.OCSPResponse:
    """A SHA-256 CertID: the issuing CA's responses are pre-signed for SHA-1 only, so this one
    is signed on demand by whichever worker takes the request."""
    issuer = ctx.certificate_of("issuing-ca")
    der = (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
           .build().public_bytes(Encoding.DER))
    status, ctype, body = _post_to_running(base + "/ocsp", der, "application/ocsp-request")
    assert (status, ctype) == (200, "application/ocsp-response")
    return ocsp.load_der_ocsp_response(body)


def _token_serial(base: str, query: bytes, post=post) -> int:
    status, _, body = post(base + "/tsa", query)
    reply = tsp.TimeStampResp.load(body)
    assert status == 200 and reply["status"]["status"].native == "granted", body[:200]
    tst = reply["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    return tst["serial_number"].native


def test_each_worker_signs_ocsp_misses_and_time_stamps_with_its_own_session(server, tmp_path):
    base, proc, ctx = server
    _, cert, _ = issue(ctx, tmp_path)
    responder = ctx.certificate_of("ocsp-responder").public_key()
    query = make_query(tmp_path, "q", "-sha256", "-cert").read_bytes()
    workers = sorted(server_workers(proc))
    assert len(workers) == 2
    serials_by_worker = {}
    for alone in workers:  # the other worker stopped: only `alone` accepts connections
        others = [w for w in workers if w != alone]
        for pid in others:
            os.kill(pid, signal.SIGSTOP)
        try:
            for _ in range(3):
                resp = _ocsp_miss(base, ctx, cert)
                assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
                assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
                assert resp.serial_number == cert.serial_number
                responder.verify(resp.signature, resp.tbs_response_bytes,
                                 *_ec_or_rsa(responder, resp))
            serials_by_worker[alone] = {
                _token_serial(base, query, lambda url, body: _post_to_running(
                    url, body, "application/timestamp-query")) for _ in range(3)}
        finally:
            for pid in others:
                os.kill(pid, signal.SIGCONT)
    # Each process reserves serial blocks of its own (ca/tsaserials.py): the two workers'
    # tokens never share a serial.
    first, second = serials_by_worker.values()
    assert len(first) == len(second) == 3 and not first & second


def _ec_or_rsa(public_key, resp):
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return (ec.ECDSA(resp.signature_hash_algorithm),)
    return (padding.PKCS1v15(), resp.signature_hash_algorithm)


def test_requests_are_in_the_access_log(server):
    base, _, ctx = server
    post(base + "/tsa", b"not a query")
    log = ctx.settings.log_dir / "access.log"
    deadline = time.monotonic() + 10
    while '"POST /tsa HTTP/1.1" 200' not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "no access-log line for the request"
        time.sleep(0.1)


def test_sighup_replaces_the_workers_and_every_answer_is_a_token(server, tmp_path):
    """granian replaces the workers one at a time, a new one up before the old one stops. A
    request on a connection the stopping worker had just accepted can be cut off (granian
    closes it; seen: up to 2 of a few hundred here), never answered wrongly; once the new
    workers are up, every request succeeds."""
    base, proc, _ = server
    query = make_query(tmp_path, "hup", "-sha256").read_bytes()
    before = server_workers(proc)
    cut_off: list = []
    other: list = []
    answered = [0]
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                _token_serial(base, query)
                answered[0] += 1
            except (urllib.error.URLError, ConnectionError) as exc:
                cut_off.append(repr(exc))
            except Exception as exc:  # noqa: BLE001 - a wrong answer: reported below
                other.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while server_workers(proc) & before or len(server_workers(proc)) < 2:
            assert time.monotonic() < deadline, "the workers were not replaced"
            time.sleep(0.1)
        time.sleep(0.5)  # the last old worker has stopped
        cut_during_swap, counted = len(cut_off), answered[0]
        while answered[0] < counted + 40:  # the new workers answer, and nothing is cut off
            assert time.monotonic() < deadline, "the new workers do not answer"
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not other, other[:3]
    assert len(cut_off) == cut_during_swap
    assert cut_during_swap <= 4, cut_off
