"""Fault drills on a served home (``regca serve``, 2 workers): rounds of parallel requests to
every service that needs the HSM or the database (time-stamps, OCSP answers signed on demand,
issuance through the RA API, seals through the signing API), each answer read in its own
protocol."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

from asn1crypto import tsp
from conftest import STAFF, make_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from revocation_support import Served, http

from ra.apikeys import create_api_key
from tsa.reply import TimeStampResp  # RFC 3161's optional token, which asn1crypto requires

PARALLEL = 32
RECOVERY_SECONDS = 5.0


class Answer(NamedTuple):
    """One request's outcome: the service, the HTTP status and what the protocol said
    (``granted``/``rejection:system_failure``, an OCSP response status, a JSON error code)."""

    service: str
    status: int
    said: str

    @property
    def succeeded(self) -> bool:
        return (self.service, self.status, self.said) in {
            ("tsa", 200, "granted"), ("ocsp", 200, "good"), ("ra", 201, "issued"),
            ("seal", 200, "sealed")}


@dataclass
class Drill:
    served: Served
    ra_key: str
    seal_key: str
    certificates: list[x509.Certificate]

    @classmethod
    def prepare(cls, served: Served) -> Drill:
        ctx = served.ctx
        ra_key = create_api_key(ctx, "fault drill RA", ["issue"], STAFF["organization_teryt"])
        seal_key = create_api_key(ctx, "fault drill seals", ["sign"], None)
        drill = cls(served, ra_key, seal_key, [])
        for _ in range(4):
            answer, pem = drill._issue()
            assert answer.succeeded, answer
            drill.certificates.append(x509.load_pem_x509_certificate(pem))
        return drill

    # -- one request of each kind ----------------------------------------------------------------

    def _issue(self) -> tuple[Answer, bytes]:
        body = json.dumps({"profile": "staff-signing", "csr": make_csr().decode(),
                           "subject": STAFF}).encode()
        status, headers, reply = http(self.served.base + "/api/v1/certificates", body, {
            "Authorization": f"Bearer {self.ra_key}", "Content-Type": "application/json"})
        if status == 201:
            return Answer("ra", status, "issued"), json.loads(reply)["certificate"].encode()
        return Answer("ra", status, _problem_code(headers, reply)), b""

    def issue(self, _i: int) -> Answer:
        return self._issue()[0]

    def seal(self, i: int) -> Answer:
        status, headers, reply = http(
            self.served.base + "/api/v1/sign/cms?level=B-B", f"pismo {i}".encode(), {
                "Authorization": f"Bearer {self.seal_key}",
                "Content-Type": "application/octet-stream"})
        if status == 200 and headers.get_content_type() == "application/pkcs7-signature":
            return Answer("seal", status, "sealed")
        return Answer("seal", status, _problem_code(headers, reply))

    def timestamp(self, _i: int) -> Answer:
        query = tsp.TimeStampReq({
            "version": 1, "cert_req": True, "nonce": int.from_bytes(os.urandom(8), "big"),
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                "hashed_message": os.urandom(32)}}).dump()
        status, headers, reply = http(self.served.base + "/tsa", query,
                                      {"Content-Type": "application/timestamp-query"})
        if headers.get_content_type() != "application/timestamp-reply":
            return Answer("tsa", status, f"not a reply: {headers.get_content_type()}")
        info = TimeStampResp.load(reply)["status"]
        said = info["status"].native
        if said != "granted":
            said += ":" + ",".join(sorted(info["fail_info"].native or ()))
        return Answer("tsa", status, said)

    def ocsp_signed(self, i: int) -> Answer:
        """A request with a nonce: never pre-signed, so the responder signs it there and then
        (RFC 8954), as it signs a miss."""
        cert = self.certificates[i % len(self.certificates)]
        request = (ocsp.OCSPRequestBuilder()
                   .add_certificate(cert, self.served.ctx.certificate_of("issuing-ca"),
                                    hashes.SHA256())
                   .add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
                   .build().public_bytes(Encoding.DER))
        status, headers, reply = http(self.served.base + "/ocsp", request,
                                      {"Content-Type": "application/ocsp-request"})
        if headers.get_content_type() != "application/ocsp-response":
            return Answer("ocsp", status, f"not a response: {headers.get_content_type()}")
        response = ocsp.load_der_ocsp_response(reply)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return Answer("ocsp", status, response.response_status.name.lower())
        return Answer("ocsp", status, response.certificate_status.name.lower())

    # -- rounds ------------------------------------------------------------------------------------

    def round(self, parallel: int = PARALLEL, only: str | None = None) -> Counter:
        """``parallel`` requests of each kind (or ``only`` that service's) at once; how many of
        each answer came back."""
        kinds = {"tsa": self.timestamp, "ocsp": self.ocsp_signed, "ra": self.issue,
                 "seal": self.seal}
        kinds = [kinds[only]] if only else list(kinds.values())
        with ThreadPoolExecutor(parallel) as pool:
            futures = [pool.submit(kind, i) for i in range(parallel) for kind in kinds]
            return Counter(f.result() for f in futures)

    def health(self) -> tuple[int, dict]:
        status, _, body = http(self.served.base + "/healthz")
        return status, json.loads(body)

    def healthy_within(self, seconds: float = RECOVERY_SECONDS) -> bool:
        """Whether /healthz says 200 within ``seconds`` (it keeps a verdict for a second)."""
        deadline = time.monotonic() + seconds
        while self.health()[0] != 200:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def recovers(self, timeout: float = RECOVERY_SECONDS, only: str | None = None,
                 ) -> tuple[float, Counter]:
        """Rounds until one where every request succeeded; (seconds taken, last round). The
        clock starts now: call it the moment the fault ends."""
        start = time.monotonic()
        while True:
            answers = self.round(only=only)
            spent = time.monotonic() - start
            if all(a.succeeded for a in answers) or spent > timeout:
                return spent, answers


def _problem_code(headers, reply: bytes) -> str:
    if headers.get_content_type() != "application/json":
        return f"not JSON: {headers.get_content_type()}"
    try:
        return json.loads(reply)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "not the contract's problem shape"


def failures(answers: Counter) -> dict:
    return {a: n for a, n in answers.items() if not a.succeeded}
