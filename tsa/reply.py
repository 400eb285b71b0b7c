"""TimeStampResp encodings (RFC 3161 §2.4.2): granted with a token, or a rejection."""

from __future__ import annotations

from asn1crypto import tsp

from tsa.errors import Rejected
from tsa.token import IssuedToken

__all__ = ["granted", "rejection"]

_GRANTED = tsp.PKIStatusInfo({"status": "granted"})
_GRANTED.dump()


def granted(token: IssuedToken) -> bytes:
    return tsp.TimeStampResp({"status": _GRANTED,
                              "time_stamp_token": token.content_info}).dump()


def rejection(error: Rejected) -> bytes:
    return tsp.TimeStampResp({"status": {
        "status": "rejection",
        "status_string": [error.message[:500]],
        "fail_info": {error.fail_info},
    }}).dump()
