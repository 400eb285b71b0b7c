"""TimeStampResp encodings (RFC 3161 §2.4.2): granted with a token, or a rejection."""

from __future__ import annotations

from asn1crypto import cms, tsp

from ca.der import sequence
from tsa.errors import Rejected
from tsa.token import IssuedToken

__all__ = ["TimeStampResp", "granted", "rejection"]


class TimeStampResp(tsp.TimeStampResp):
    """RFC 3161 §2.4.2: ``timeStampToken TimeStampToken OPTIONAL`` (absent on rejection);
    asn1crypto 1.5 declares it mandatory."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


_GRANTED = tsp.PKIStatusInfo({"status": "granted"}).dump()


def granted(token: IssuedToken) -> bytes:
    """TimeStampResp ::= SEQUENCE { status, timeStampToken } around the encoded token."""
    return sequence(_GRANTED, token.der)


def rejection(error: Rejected) -> bytes:
    return TimeStampResp({"status": {
        "status": "rejection",
        "status_string": [error.message[:500]],
        "fail_info": {error.fail_info},
    }}).dump()
