"""Parsing OCSP requests (RFC 6960 §4.1) into what the responder needs, refusing bad ones."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote

from asn1crypto import ocsp as a_ocsp
from cryptography import x509
from cryptography.x509 import ocsp

from ca.errors import Malformed

__all__ = ["CertId", "ParsedRequest", "parse_request", "decode_get_path", "MAX_CERT_IDS",
           "MAX_NONCE"]

# A request names at most this many certificates; more gets malformedRequest, so one request
# cannot make the responder sign for long (RFC 5019 clients send one).
MAX_CERT_IDS = 20
# RFC 8954 §2.1: nonces of 1 to 32 octets; longer (or empty) ones MUST be rejected with
# malformedRequest.
MAX_NONCE = 32

_ASN1_HASHES = {"sha1": "sha1", "sha256": "sha256"}
# id-pkix-ocsp-nonce (RFC 8954 §2.1) as DER: a request without these octets has no nonce, and
# is spared building its extensions (most requests: RFC 5019 clients send none).
_NONCE_OID = bytes.fromhex("06092b0601050507300102")


@dataclass(frozen=True)
class CertId:
    algorithm: str  # "sha1", "sha256" or another name this responder does not answer for
    name_hash: bytes
    key_hash: bytes
    serial: int
    asn1: a_ocsp.CertId | None = None  # kept for multi-certificate answers


@dataclass(frozen=True)
class ParsedRequest:
    cert_ids: list[CertId]
    nonce: bytes | None


def _check_nonce(nonce: bytes | None) -> bytes | None:
    if nonce is not None and not 1 <= len(nonce) <= MAX_NONCE:
        raise Malformed(f"nonce of {len(nonce)} octets; RFC 8954 allows 1 to {MAX_NONCE}")
    return nonce


def _parse_one(req: ocsp.OCSPRequest, der: bytes) -> ParsedRequest:
    try:
        algorithm = req.hash_algorithm.name
    except Exception:  # an OID cryptography does not know: nobody's CertID here
        algorithm = "unsupported"
    cert_id = CertId(algorithm, req.issuer_name_hash, req.issuer_key_hash, req.serial_number)
    nonce = None
    if _NONCE_OID in der:
        try:
            nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            pass
    return ParsedRequest([cert_id], _check_nonce(nonce))


def _parse_many(der: bytes) -> ParsedRequest:
    """Requests naming several certificates, which cryptography's loader refuses."""
    request = a_ocsp.OCSPRequest.load(der, strict=True)
    tbs = request["tbs_request"]
    items = tbs["request_list"]
    if len(items) > MAX_CERT_IDS:
        raise Malformed(f"{len(items)} certificates in one request; at most {MAX_CERT_IDS}")
    cert_ids = []
    for item in items:
        cid = item["req_cert"]
        cert_ids.append(CertId(
            _ASN1_HASHES.get(cid["hash_algorithm"]["algorithm"].native, "unsupported"),
            cid["issuer_name_hash"].native, cid["issuer_key_hash"].native,
            cid["serial_number"].native, cid))
    nonce = None
    for ext in tbs["request_extensions"] or []:
        if ext["extn_id"].native == "nonce":
            nonce = ext["extn_value"].parsed.native
    if not cert_ids:
        raise Malformed("the request names no certificate")
    return ParsedRequest(cert_ids, _check_nonce(nonce))


def parse_request(der: bytes) -> ParsedRequest:
    """Raise ``Malformed`` for anything that is not a well-formed OCSPRequest."""
    if not der:
        raise Malformed("empty request")
    try:
        return _parse_one(ocsp.load_der_ocsp_request(der), der)
    except Malformed:
        raise
    except (ValueError, NotImplementedError):
        pass  # several certificates (or not DER at all): the general parser decides
    try:
        return _parse_many(der)
    except Malformed:
        raise
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError...
        raise Malformed(f"not a DER OCSPRequest: {type(exc).__name__}") from None


def decode_get_path(rest: str) -> bytes:
    """The DER request of ``GET /ocsp/<base64>`` (RFC 6960 Appendix A.1): base64, usually
    URL-encoded; the server has decoded the path once, some clients encode it twice; a '+'
    that became a space is restored."""
    text = rest
    if "%" in text:
        text = unquote(text)
    text = text.replace(" ", "+").replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("the GET path is not base64") from None
