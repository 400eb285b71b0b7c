"""A signed tree head: the exact bytes signed, its JSON (CONTRACT.md, "Issuance transparency
log") and the checks a verifier makes of it.

What the audit key signs is RFC 9162 §4.10's ``TreeHeadDataV2`` in TLS presentation encoding,
51 bytes for SHA-256:

    uint64 timestamp        milliseconds since 1970-01-01T00:00:00Z, big-endian
    uint64 tree_size        big-endian
    opaque root_hash<32..2^8-1>   one length byte (0x20) then the 32-byte root
    Extension sth_extensions<0..2^16-1>   two zero bytes (none)

The signature is ECDSA with SHA-256 (DER) for an EC key, RSASSA-PKCS1-v1_5 with SHA-256 for
RSA. The time-stamp token is an RFC 3161 token from RegCA's TSA whose messageImprint is the
SHA-256 of those same 51 bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import struct
from dataclasses import dataclass

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

__all__ = ["SignedTreeHead", "tree_head_data", "signature_of", "rfc3339", "ms_of",
           "TreeHeadProblem", "LOG_SIGNING_EKU"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LOG_SIGNING_EKU = x509.ObjectIdentifier("1.3.6.1.4.1.99999.616.4.1")


class TreeHeadProblem(ValueError):
    """A tree head that is malformed or whose signature, certificate or time-stamp fails."""


def tree_head_data(timestamp_ms: int, tree_size: int, root_hash: bytes) -> bytes:
    if len(root_hash) != 32:
        raise ValueError("root_hash must be 32 bytes (SHA-256)")
    return struct.pack(">QQB", timestamp_ms, tree_size, 32) + root_hash + b"\x00\x00"


def signature_of(key, data: bytes) -> bytes:
    """Sign ``data`` as tree heads are signed, with any ``cryptography`` private key (an HSM
    key object included)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def rfc3339(timestamp_ms: int) -> str:
    at = _EPOCH + dt.timedelta(milliseconds=timestamp_ms)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_of(at: dt.datetime) -> int:
    return (at - _EPOCH) // dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    timestamp_ms: int
    root_hash: bytes
    signature: bytes
    certificate: x509.Certificate
    timestamp_token: bytes  # DER ContentInfo

    def signed_bytes(self) -> bytes:
        return tree_head_data(self.timestamp_ms, self.tree_size, self.root_hash)

    def to_json(self) -> dict:
        b64 = base64.b64encode
        return {"tree_size": self.tree_size, "timestamp": rfc3339(self.timestamp_ms),
                "root_hash": b64(self.root_hash).decode(),
                "signature": b64(self.signature).decode(),
                "signing_certificate": self.certificate.public_bytes(
                    serialization.Encoding.PEM).decode(),
                "timestamp_token": b64(self.timestamp_token).decode()}

    @classmethod
    def from_json(cls, value) -> SignedTreeHead:
        """TreeHeadProblem naming the field that is missing or malformed."""
        if not isinstance(value, dict):
            raise TreeHeadProblem("a tree head is a JSON object")
        try:
            field = "tree_size"
            size = value["tree_size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError("not a non-negative integer")
            field = "timestamp"
            at = dt.datetime.fromisoformat(value["timestamp"])
            if at.tzinfo is None:
                raise ValueError("no time zone")
            field = "root_hash"
            root = base64.b64decode(value["root_hash"], validate=True)
            if len(root) != 32:
                raise ValueError("not 32 bytes")
            field = "signature"
            signature = base64.b64decode(value["signature"], validate=True)
            field = "signing_certificate"
            certificate = x509.load_pem_x509_certificate(
                value["signing_certificate"].encode())
            field = "timestamp_token"
            token = base64.b64decode(value["timestamp_token"], validate=True)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TreeHeadProblem(f"tree head field {field}: {exc}") from None
        return cls(size, ms_of(at), root, signature, certificate, token)

    # -- checks -----------------------------------------------------------------------------

    def check(self, root_certificate: x509.Certificate) -> None:
        """Signature by a certificate the root issued for signing tree heads, valid at the
        head's time, and a time-stamp over the signed bytes; TreeHeadProblem otherwise.
        (Who the TSA is, and its chain, is checked by ``timestamp_signer``'s caller.)"""
        cert = self.certificate
        try:
            cert.verify_directly_issued_by(root_certificate)
        except (ValueError, TypeError, InvalidSignature):
            raise TreeHeadProblem("the tree head's certificate was not issued by the root"
                                  ) from None
        at = _EPOCH + dt.timedelta(milliseconds=self.timestamp_ms)
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise TreeHeadProblem("the tree head's certificate was not valid at its time")
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = []
        if LOG_SIGNING_EKU not in eku:
            raise TreeHeadProblem("the tree head's certificate is not for signing tree heads")
        public = cert.public_key()
        try:
            if isinstance(public, rsa.RSAPublicKey):
                public.verify(self.signature, self.signed_bytes(), padding.PKCS1v15(),
                              hashes.SHA256())
            else:
                public.verify(self.signature, self.signed_bytes(), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise TreeHeadProblem("the tree head's signature does not verify") from None
        self.timestamp_info()

    def timestamp_info(self) -> tsp.TSTInfo:
        """The token's TSTInfo once its imprint is checked against the signed bytes."""
        try:
            info = cms.ContentInfo.load(self.timestamp_token)["content"][
                "encap_content_info"]["content"].parsed
            imprint = info["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            hashed = imprint["hashed_message"].native
        except (ValueError, TypeError, KeyError):
            raise TreeHeadProblem("the tree head's time-stamp token is malformed") from None
        if algorithm != "sha256" or hashed != hashlib.sha256(self.signed_bytes()).digest():
            raise TreeHeadProblem("the tree head's time-stamp is over other bytes")
        return info
