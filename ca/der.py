"""Framing DER from parts that are already encoded, with asn1crypto's TLV emitter.

Building a structure as a tree of asn1crypto values re-encodes and copies every value each time
a parent is encoded; on the hot paths (issuance, time-stamping) the constant parts are encoded
once and only the frames around them are emitted per use. X.690 identifiers: universal class
(0) or context-specific (2), constructed (1).
"""

from __future__ import annotations

from asn1crypto import core, parser

__all__ = ["sequence", "set_of", "context", "signed"]


def sequence(*parts: bytes) -> bytes:
    return parser.emit(0, 1, 16, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """A SET whose members the caller has put in DER order (X.690 §11.6)."""
    return parser.emit(0, 1, 17, b"".join(parts))


def context(tag: int, *parts: bytes) -> bytes:
    """``[tag]`` constructed: EXPLICIT around a value, or IMPLICIT over a SET's contents."""
    return parser.emit(2, 1, tag, b"".join(parts))


def signed(tbs: bytes, algorithm: bytes, signature: bytes, *after: bytes) -> bytes:
    """``SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING, ... }``: a certificate (RFC 5280
    §4.1), or a BasicOCSPResponse with its certificates ``after`` (RFC 6960 §4.2.1)."""
    return sequence(tbs, algorithm, core.OctetBitString(signature).dump(), *after)
