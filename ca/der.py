"""Framing DER from parts that are already encoded.

Building a structure as a tree of asn1crypto values re-encodes and copies every value each time
a parent is encoded; on the hot paths (issuance, time-stamping) the constant parts are encoded
once and only the frames around them are emitted per use. X.690 identifiers: universal class
(0) or context-specific (2), constructed (1). The frames are written here rather than by
asn1crypto's general emitter (``asn1crypto.parser.emit``), which cost several times as much
per frame, and a certificate and its OCSP response take about twenty; tests/test_der.py holds
each against asn1crypto's.
"""

from __future__ import annotations

__all__ = ["sequence", "set_of", "context", "signed", "integer", "octet_string", "bit_string"]


def _tlv(identifier: int, contents: bytes) -> bytes:
    """Identifier (tag number below 31), definite length in the fewest octets (X.690 §10.1),
    contents."""
    n = len(contents)
    if n < 0x80:
        return bytes((identifier, n)) + contents
    size = (n.bit_length() + 7) // 8
    return bytes((identifier, 0x80 | size)) + n.to_bytes(size, "big") + contents


def sequence(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """A SET whose members the caller has put in DER order (X.690 §11.6)."""
    return _tlv(0x31, b"".join(parts))


def context(tag: int, *parts: bytes) -> bytes:
    """``[tag]`` constructed: EXPLICIT around a value, or IMPLICIT over a SET's contents."""
    if not 0 <= tag < 31:
        raise ValueError(f"context tag {tag} needs the high-tag-number form")
    return _tlv(0xA0 | tag, b"".join(parts))


def integer(value: int) -> bytes:
    """An INTEGER in the fewest octets of two's complement (X.690 §8.3.2): a serial number
    (RFC 5280 §4.1.2.2), or whatever a request's CertID holds."""
    magnitude = value if value >= 0 else ~value
    return _tlv(0x02, value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True))


def octet_string(value: bytes) -> bytes:
    return _tlv(0x04, value)


def bit_string(value: bytes) -> bytes:
    """A BIT STRING of whole octets (no unused bits): a signature's value."""
    return _tlv(0x03, b"\x00" + value)


def signed(tbs: bytes, algorithm: bytes, signature: bytes, *after: bytes) -> bytes:
    """``SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING, ... }``: a certificate (RFC 5280
    §4.1), or a BasicOCSPResponse with its certificates ``after`` (RFC 6960 §4.2.1)."""
    return sequence(tbs, algorithm, bit_string(signature), *after)
