"""Framing DER from parts that are already encoded, and the few primitives the hot paths
encode per use.

Building a structure as a tree of asn1crypto values re-encodes and copies every value each time
a parent is encoded; on the hot paths (issuance, time-stamping, OCSP) the constant parts are
encoded once and only the frames around them, and the values that change (a serial, a time, a
digest, a signature), are emitted per use. X.690 §8.1: an identifier octet (class, constructed,
tag below 31) and a definite length in the fewest octets; tests/test_encoders.py checks every
encoder here against asn1crypto's.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["sequence", "set_of", "context", "signed", "integer", "octet_string",
           "generalized_time"]


def _tlv(identifier: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((identifier, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((identifier, 0x80 | len(size))) + size + content


def sequence(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """A SET whose members the caller has put in DER order (X.690 §11.6)."""
    return _tlv(0x31, b"".join(parts))


def context(tag: int, *parts: bytes) -> bytes:
    """``[tag]`` constructed: EXPLICIT around a value, or IMPLICIT over a SET's contents."""
    return _tlv(0xA0 | tag, b"".join(parts))


def integer(value: int) -> bytes:
    """INTEGER, two's complement in the fewest octets (X.690 §8.3)."""
    magnitude = value if value >= 0 else ~value  # -128 fits one octet, 128 needs two
    return _tlv(0x02, value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True))


def octet_string(data: bytes) -> bytes:
    return _tlv(0x04, data)


def generalized_time(when: dt.datetime) -> bytes:
    """GeneralizedTime in UTC with the fraction, trailing zeros dropped, or none when whole
    (X.690 §11.7, as RFC 3161 §2.4.2 wants genTime)."""
    when = when.astimezone(dt.timezone.utc)
    text = when.strftime("%Y%m%d%H%M%S")
    if when.microsecond:
        text += "." + f"{when.microsecond:06d}".rstrip("0")
    return _tlv(0x18, (text + "Z").encode())


def signed(tbs: bytes, algorithm: bytes, signature: bytes, *after: bytes) -> bytes:
    """``SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING, ... }``: a certificate (RFC 5280
    §4.1), or a BasicOCSPResponse with its certificates ``after`` (RFC 6960 §4.2.1)."""
    return sequence(tbs, algorithm, _tlv(0x03, b"\x00" + signature), *after)
