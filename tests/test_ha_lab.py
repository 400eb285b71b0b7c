"""Fault drills on the HA lab (lab/ha_lab.py, `make ha-lab`): two `regca serve` nodes behind
HAProxy on a PostgreSQL primary with a synchronous streaming standby, under OCSP, TSA and
issuance load sent through HAProxy, as a relying party and an RA would.

The drills run in order on one lab (a module fixture): a node killed, the primary lost and the
standby promoted, the old primary back as a standby. Each is bounded well under two minutes.
They need Debian's PostgreSQL server binaries and HAProxy (`make install` adds both).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from asn1crypto import tsp
from conftest import RESIDENT, make_csr, new_key
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from revocation_support import free_port

from ca.lease import LEASE_SECONDS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the lab/ folder
from lab.ha_lab import HaLab, Ports, missing_binaries  # noqa: E402

pytestmark = [
    pytest.mark.slow, pytest.mark.hsm,  # PostgreSQL: the lab's own servers, not the suite's
    pytest.mark.skipif(bool(missing_binaries()), reason=(
        f"the HA lab needs {', '.join(missing_binaries())} (Debian packages postgresql, "
        "haproxy)")),
]

FAILURE_WINDOW = 2.0  # seconds a killed node may cost requests through HAProxy
RESUME_WITHIN = 30.0  # seconds from the primary's loss to issuance answering again


@pytest.fixture(scope="module")
def lab():
    scratch = Path(tempfile.mkdtemp(prefix="regca-ha-lab-"))
    os.chmod(scratch, 0o755)  # the postgres account reaches its data directories
    lab = HaLab(scratch / "lab", Ports(*(free_port() for _ in range(6))), workers=1)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def issuer(lab) -> x509.Certificate:
    return x509.load_der_x509_certificate(_get(lab, "/ca/issuing.crt")[1])


@pytest.fixture(scope="module")
def tsa_serials() -> list[int]:
    """Every time-stamp serial granted through HAProxy during the drills, in order."""
    return []


def _request(lab: HaLab, method: str, path: str, body: bytes | None = None,
             headers: dict | None = None, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", lab.ports.front, timeout=timeout)
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _get(lab: HaLab, path: str) -> tuple[int, bytes]:
    return _request(lab, "GET", path)


def _issue(lab: HaLab) -> x509.Certificate | None:
    """One certificate through the RA API (a key of its own: one key, one certificate)."""
    key = (lab.root / "api-key").read_text().strip()
    body = json.dumps({"profile": "resident-signing", "subject": dict(RESIDENT),
                       "csr": make_csr(new_key()).decode()}).encode()
    status, reply = _request(lab, "POST", "/api/v1/certificates", body, {
        "Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    if status != 201:
        return None
    return x509.load_pem_x509_certificate(json.loads(reply)["certificate"].encode())


def _ocsp_status(lab: HaLab, cert: x509.Certificate, issuer: x509.Certificate):
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    status, body = _request(lab, "POST", "/ocsp", req.public_bytes(serialization.Encoding.DER),
                            {"Content-Type": "application/ocsp-request"})
    if status != 200:
        return None
    resp = ocsp.load_der_ocsp_response(body)
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return None
    return resp.certificate_status


def _timestamp(lab: HaLab) -> int | None:
    """A time-stamp through HAProxy; its serial, or None unless granted."""
    query = tsp.TimeStampReq({
        "version": 1, "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"},
            "hashed_message": hashlib.sha256(os.urandom(16)).digest()},
        "nonce": int.from_bytes(os.urandom(8), "big"), "cert_req": False}).dump()
    status, body = _request(lab, "POST", "/tsa", query,
                            {"Content-Type": "application/timestamp-query"})
    if status != 200:
        return None
    reply = tsp.TimeStampResp.load(body)
    if reply["status"]["status"].native not in ("granted", "granted_with_mods"):
        return None
    return reply["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed[
        "serial_number"].native


@dataclass
class Load:
    """OCSP, TSA and issuance requests through HAProxy, one thread each, until stopped; each
    request's start and end (monotonic), kind and outcome."""

    lab: HaLab
    issuer: x509.Certificate
    known: x509.Certificate  # a certificate the OCSP requests ask about
    results: list[tuple[float, float, str, bool]] = field(default_factory=list)
    issued: list[tuple[float, x509.Certificate]] = field(default_factory=list)
    serials: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self, kind: str) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if kind == "ocsp":
                    ok = (_ocsp_status(self.lab, self.known, self.issuer)
                          == ocsp.OCSPCertStatus.GOOD)
                elif kind == "tsa":
                    serial = _timestamp(self.lab)
                    ok = serial is not None
                    if ok:
                        self.serials.append(serial)
                else:
                    cert = _issue(self.lab)
                    ok = cert is not None
                    if ok:
                        self.issued.append((time.monotonic(), cert))
            except (OSError, http.client.HTTPException, ValueError):
                ok = False
            self.results.append((started, time.monotonic(), kind, ok))
            if not ok:
                time.sleep(0.05)  # a client retrying, not a busy loop

    @contextlib.contextmanager
    def running(self):
        threads = [threading.Thread(target=self._run, args=(k,), daemon=True)
                   for k in ("ocsp", "tsa", "issue")]
        for t in threads:
            t.start()
        try:
            yield self
        finally:
            self._stop.set()
            for t in threads:
                t.join(30)

    def failures(self) -> list[tuple[float, float]]:
        """``(start, end)`` of each failed request."""
        return [(t, end) for t, end, _, ok in self.results if not ok]

    def successes(self, kind: str, after: float = 0.0) -> list[float]:
        """Start times of the successful requests of ``kind`` started at ``after`` or later."""
        return [t for t, _, k, ok in self.results if ok and k == kind and t >= after]


def _lease_holder(lab: HaLab) -> str:
    return lab.pg.sql(lab.pg.primary(), "SELECT holder FROM job_leases WHERE name = 'jobs'",
                   "regca")[0][0]


def _wait(what: str, predicate, timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - start


def test_killed_node_costs_at_most_two_seconds_of_failures_then_all_succeed(
        lab, issuer, tsa_serials):
    assert _lease_holder(lab).startswith("node1:"), "the first node up runs the jobs"
    known = _issue(lab)
    assert known is not None, "the lab issues through HAProxy"
    load = Load(lab, issuer, known)
    with load.running():
        time.sleep(3)
        killed_at = time.monotonic()
        lab.kill_node("node1")  # the machine lost: server, workers and jobs process at once
        time.sleep(8)
    tsa_serials += load.serials
    # A request in flight on node1 may fail with it; none that ended before the kill, and
    # none started once the failure window is over.
    assert not [end for _, end in load.failures() if end < killed_at], "failures before the kill"
    late = [t - killed_at for t, _ in load.failures() if t >= killed_at + FAILURE_WINDOW]
    assert late == [], f"requests failed {late} s after the node was killed"
    for kind in ("ocsp", "tsa", "issue"):
        assert load.successes(kind, after=killed_at + FAILURE_WINDOW), (
            f"no {kind} request succeeded after the kill")
    assert lab.backends()["node1"] == "DOWN"


def test_the_jobs_lease_moves_to_the_surviving_node(lab):
    if lab.pids.get("node1"):  # the drill above left node1 running: the machine is lost now
        lab.kill_node("node1")
    took = _wait("node2 holding the jobs lease",
                 lambda: _lease_holder(lab).startswith("node2:"), LEASE_SECONDS + 10)
    assert took <= LEASE_SECONDS + 10
    lab.start_node("node1")  # back: it waits, as the lease is node2's now
    lab.wait_front()
    time.sleep(2)
    assert _lease_holder(lab).startswith("node2:"), "the returning node took a held lease"


def test_every_node_serves_the_same_crl_bytes_after_a_revocation(lab):
    cert = _issue(lab)
    serial = format(cert.serial_number, "x")
    key = (lab.root / "api-key").read_text().strip()
    status, _ = _request(lab, "POST", f"/api/v1/certificates/{serial}/revoke",
                         json.dumps({"reason": "keyCompromise"}).encode(), {
                             "Content-Type": "application/json",
                             "Authorization": f"Bearer {key}"})
    assert status == 200

    def same_listing_crl() -> bool:
        bodies = set()
        for node in ("node1", "node2"):
            conn = http.client.HTTPConnection("127.0.0.1", getattr(lab.ports, node), timeout=5)
            conn.request("GET", "/crl/issuing.crl")
            bodies.add(conn.getresponse().read())
            conn.close()
        if len(bodies) != 1:
            return False
        crl = x509.load_der_x509_crl(bodies.pop())
        return crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None

    _wait("both nodes serving one complete CRL listing the revoked certificate",
          same_listing_crl, 15)


def test_after_promoting_the_standby_issuance_resumes_and_acknowledged_certificates_are_good(
        lab, issuer, tsa_serials):
    known = _issue(lab)
    assert known is not None
    load = Load(lab, issuer, known)
    with load.running():
        time.sleep(3)
        lab.pg.stop("pg1", "immediate")  # the primary's machine lost
        lost_at = time.monotonic()  # from here on, nothing can commit until the promotion
        lab.pg.promote("pg2")
        _wait("issuance after the failover",
              lambda: load.successes("issue", after=lost_at), RESUME_WITHIN + 5)
        time.sleep(3)
    tsa_serials += load.serials
    assert lab.pg.primary() == "pg2"
    resumed = min(end for t, end, k, ok in load.results
                  if ok and k == "issue" and t >= lost_at) - lost_at
    assert resumed <= RESUME_WITHIN, f"issuance answered again {resumed:.1f} s after the loss"
    acknowledged = [cert for _, cert in load.issued] + [known]
    assert [c for t, c in load.issued if t < lost_at], "nothing was issued before the loss"
    statuses = {c.serial_number: _ocsp_status(lab, c, issuer) for c in acknowledged}
    not_good = {hex(s): st for s, st in statuses.items() if st != ocsp.OCSPCertStatus.GOOD}
    assert not_good == {}, "acknowledged certificates not good after the failover"


def test_time_stamp_serials_are_unique_across_nodes_and_failover(lab, tsa_serials):
    assert len(tsa_serials) > 20, "the drills granted time-stamps"
    assert len(set(tsa_serials)) == len(tsa_serials)


def test_the_old_primary_comes_back_as_a_synchronous_standby(lab, issuer):
    if lab.pg.primary() != "pg2":
        pytest.skip("the failover drill did not run")
    how = lab.pg.rejoin_as_standby("pg1", "pg2")
    assert how == "pg_rewind", (lab.root / "rejoin.log").read_text()
    assert lab.pg.replication("pg2")["pg1"] == ("streaming", "sync")
    assert not lab.pg.is_primary("pg1")
    cert = _issue(lab)
    assert cert is not None
    serial = format(cert.serial_number, "x")
    _wait("the new certificate on the rejoined standby", lambda: lab.pg.sql(
        "pg1", f"SELECT count(*) FROM certificates WHERE serial = '{serial}'", "regca")[0][0]
        == 1, 10)


def test_stopping_the_lab_leaves_no_process_of_it_running(lab):
    pids = dict(lab.pids)
    lab.stop()
    assert not lab.running()
    still = [name for name, pid in pids.items() if _process_exists(pid)]
    assert still == []


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
