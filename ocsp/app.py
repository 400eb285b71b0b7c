"""The responder: POST /ocsp and GET /ocsp/<base64> (RFC 6960 Appendix A, RFC 5019 §5-6).

A request is answered from the pre-signed cache; a miss, a nonce or several certificates are
signed on demand. With the database away, pre-signed answers come from this node's mirror of
them (ca/ocsp_mirror.py) and the rest is tryLater. Every answer is an OCSPResponse (errors
included: malformedRequest, unauthorized, tryLater, internalError), never an HTML page or a
bare 500.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import queue
import threading
from email.utils import format_datetime

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from ca.errors import DependencyUnavailable, HsmUnavailable, Malformed
from ca.ocsp_signer import CertStatus, IssuerHashes, status_of
from ca.serials import serial_hex
from ca.services import OcspServices
from ca.store import ocsp as ocsp_store
from ca.store.outage import database_unavailable
from edge.wsgi import BodyTooLarge, read_body, respond
from ocsp.request import CertId, ParsedRequest, decode_get_path, parse_request

__all__ = ["OcspApp", "MAX_REQUEST"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/ocsp-response"
# A request for one certificate is about 100 bytes, with a nonce and a signature a few KiB.
MAX_REQUEST = 16 * 1024


def _error(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


MALFORMED = _error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
UNAUTHORIZED = _error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
TRY_LATER = _error(ocsp.OCSPResponseStatus.TRY_LATER)
INTERNAL = _error(ocsp.OCSPResponseStatus.INTERNAL_ERROR)
_NO_STORE = [("Cache-Control", "no-store")]
_VALIDATORS_KEPT = 4096  # responses whose HTTP validators are kept made (about 6 MB)


class _Answer:
    """A response body and whether HTTP caches may keep it (only pre-signed ones)."""

    __slots__ = ("der", "this_update", "next_update")

    def __init__(self, der: bytes, this_update: dt.datetime | None = None,
                 next_update: dt.datetime | None = None):
        self.der, self.this_update, self.next_update = der, this_update, next_update


class OcspApp:
    """Given the responder's signer (its own key and the CA certificates), the status store
    (status rows and responses) and the clock (ca/services.py): no CA key, no context."""

    def __init__(self, services: OcspServices):
        self.signer = services.signer
        self.store = services.store
        self.clock = services.clock
        self._writer: tuple[int, queue.Queue] | None = None
        self._writer_lock = threading.Lock()
        self._validators: dict[bytes, tuple[str, str, str]] = {}

    # -- HTTP -----------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        try:
            if method == "POST" and path.rstrip("/") == "/ocsp":
                der = read_body(environ, MAX_REQUEST)
            elif method == "GET" and path.startswith("/ocsp/") and len(path) > 6:
                if len(path) > 4 * MAX_REQUEST // 3 + 16:
                    raise Malformed("GET request too long")
                der = decode_get_path(path[6:])
            else:
                headers = [("Allow", "GET, POST"), *_NO_STORE]
                return respond(start_response, 405 if path.rstrip("/") == "/ocsp" else 404,
                               MALFORMED, CONTENT_TYPE, headers)
            answer = self.answer(der)
        except (Malformed, BodyTooLarge):
            answer = _Answer(MALFORMED)
        except Exception as exc:  # the protocol answers in the protocol, never with a 500 page
            if database_unavailable(exc):
                log.warning("OCSP request not answered: database unavailable: %s", exc)
                return self._respond(environ, start_response, _Answer(TRY_LATER))
            log.exception("OCSP request failed")
            answer = _Answer(INTERNAL)
        return self._respond(environ, start_response, answer)

    def _respond(self, environ, start_response, answer: _Answer):
        if answer.next_update is None:
            return respond(start_response, 200, answer.der, CONTENT_TYPE, _NO_STORE)
        # RFC 5019 §6.2: validators and freshness for HTTP caches, max-age before nextUpdate.
        # A response's validators are made once (hashing and date formatting were a fifth of a
        # cached answer's time); only max-age changes from one request to the next.
        etag, last_modified, expires = self._validators_of(answer)
        max_age = max(0, int((answer.next_update - self.clock.now()).total_seconds()))
        headers = [("ETag", etag), ("Last-Modified", last_modified), ("Expires", expires),
                   ("Cache-Control", f"max-age={max_age}, public, no-transform, "
                                     "must-revalidate")]
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", headers)
            return [b""]
        return respond(start_response, 200, answer.der, CONTENT_TYPE, headers)

    def _validators_of(self, answer: _Answer) -> tuple[str, str, str]:
        made = self._validators.get(answer.der)
        if made is None:
            made = ('"' + hashlib.sha256(answer.der).hexdigest()[:32] + '"',
                    format_datetime(answer.this_update, usegmt=True),
                    format_datetime(answer.next_update, usegmt=True))
            if len(self._validators) >= _VALIDATORS_KEPT:
                self._validators.clear()  # responses are refreshed: old ones are not asked for
            self._validators[answer.der] = made
        return made

    # -- OCSP -----------------------------------------------------------------------------------

    def answer(self, der: bytes) -> _Answer:
        request = parse_request(der)
        issuers = [self.signer.issuers.get((c.algorithm, c.name_hash, c.key_hash))
                   for c in request.cert_ids]
        if any(ih is None for ih in issuers):
            return _Answer(UNAUTHORIZED)  # RFC 6960 §2.3: not a CA this responder serves
        try:
            if len(issuers) > 1:
                return self._answer_many(request, issuers)
            return self._answer_one(request.cert_ids[0], issuers[0], request.nonce)
        except HsmUnavailable as exc:
            log.warning("OCSP signing on demand failed: %s", exc)
            return _Answer(TRY_LATER)
        except DependencyUnavailable as exc:  # no status to sign, nor a pre-signed answer
            log.warning("OCSP request not answered: %s", exc)
            return _Answer(TRY_LATER)

    def _answer_one(self, cert_id: CertId, ih: IssuerHashes, nonce: bytes | None) -> _Answer:
        serial = serial_hex(cert_id.serial) if cert_id.serial > 0 else None
        # The offline root's responses, and a retired issuing CA's, are only ever pre-signed
        # (this front holds no CA key): a nonce is left unanswered (RFC 8954 §2.1 allows a
        # response without it), a miss is `unauthorized` (RFC 5019 §2.2.3).
        if nonce is None or not self.signer.delegates(ih.ca):  # a cache hit asks no more
            if serial is not None:
                hit = self.store.response(serial, ih.algorithm)
                if hit is not None and hit[2] > self.clock.now():
                    return _Answer(*hit)
            if not self.signer.delegates(ih.ca):
                return _Answer(UNAUTHORIZED)
        try:
            status, row = self._status(ih.ca, cert_id.serial, serial)
        except DependencyUnavailable:
            # The database is away: the pre-signed answer (from this node's mirror) still
            # states the status; a nonce goes unanswered, as RFC 8954 §2.1 allows.
            hit = self.store.response(serial, ih.algorithm) if serial is not None else None
            if hit is not None and hit[2] > self.clock.now():
                return _Answer(*hit)
            raise
        der, this_update, next_update = self.signer.sign(ih, status, nonce)
        if nonce is not None:
            return _Answer(der)
        if status.cacheable:
            self._store(row, ocsp_store.ResponseRow(serial, ih.algorithm, ih.ca, der,
                                                    this_update, next_update))
        return _Answer(der, this_update, next_update)

    def _answer_many(self, request: ParsedRequest, issuers: list[IssuerHashes]) -> _Answer:
        cas = {ih.ca for ih in issuers}
        ca = cas.pop()
        if cas or not self.signer.delegates(ca):
            return _Answer(UNAUTHORIZED)  # no CA key here: one pre-signed answer at a time
        items = [(c.asn1, self._status(ca, c.serial,
                                       serial_hex(c.serial) if c.serial > 0 else None)[0])
                 for c in request.cert_ids]
        return _Answer(self.signer.sign_many(ca, items, request.nonce))

    def _status(self, ca: str, serial: int, serial_text: str | None,
                ) -> tuple[CertStatus, tuple | None]:
        if serial_text is None:
            return CertStatus(serial, "unknown"), None
        row = self.store.status(serial_text)
        return status_of(serial, row, ca), row

    def _store(self, row: tuple, response: ocsp_store.ResponseRow) -> None:
        """Keep a response signed on a miss, so the next request is a hit. A background thread
        per process writes them in batches: the answer does not wait for the write lock."""
        with self._writer_lock:
            if self._writer is None or self._writer[0] != os.getpid():
                q: queue.Queue = queue.Queue(maxsize=10000)
                threading.Thread(target=self._write_loop, args=(q,), daemon=True,
                                 name="ocsp-miss-writer").start()
                self._writer = (os.getpid(), q)
        try:
            self._writer[1].put_nowait((row, response))
        except queue.Full:
            pass  # under a flood of misses some are simply signed again later

    def _write_loop(self, q: queue.Queue) -> None:
        while True:
            batch = [q.get()]
            while len(batch) < 500:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            try:
                self.store.save_current(batch)
            except Exception as exc:  # noqa: BLE001 - logged; the answers were already sent
                log.warning("%d OCSP responses signed on demand not stored: %s",
                            len(batch), exc)
