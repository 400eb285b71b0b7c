"""A TimeStampReq (RFC 3161 §2.4.1), parsed and checked against the TSA policy."""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import core, tsp

from ca.policy import TsaPolicy
from tsa.errors import Rejected

__all__ = ["TimestampRequest", "parse_request"]

_DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


@dataclass(frozen=True)
class TimestampRequest:
    """What the token echoes: the imprint (kept as parsed, so it is re-emitted byte for byte),
    the nonce and whether the TSA certificate is wanted."""

    message_imprint: tsp.MessageImprint
    hash_algorithm: str
    hashed_message: bytes
    nonce: int | None
    cert_req: bool


def _parse(der: bytes) -> tsp.TimeStampReq:
    try:
        req = tsp.TimeStampReq.load(der, strict=True)
        _ = req.native  # asn1crypto parses lazily: force every field now, inside this try
    except (ValueError, TypeError, OverflowError) as exc:
        raise Rejected("bad_data_format", f"not a DER TimeStampReq: {exc}") from None
    return req


def parse_request(der: bytes, policy: TsaPolicy) -> TimestampRequest:
    req = _parse(der)
    if req["version"].native != "v1":
        raise Rejected("bad_request", "TimeStampReq version must be 1 (RFC 3161 §2.4.1)")
    imprint = req["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    hashed = imprint["hashed_message"].native
    if algorithm not in policy.hash_algorithms:
        allowed = ", ".join(sorted(policy.hash_algorithms))
        raise Rejected("bad_alg", f"hash algorithm {algorithm} is not accepted (use {allowed})")
    if not isinstance(imprint["hash_algorithm"]["parameters"], (core.Void, core.Null)):
        # RFC 5754 §2: SHA-2 AlgorithmIdentifiers have absent (or NULL) parameters.
        raise Rejected("bad_alg", "hash algorithm parameters must be absent or NULL")
    if len(hashed) != _DIGEST_SIZES[algorithm]:
        raise Rejected("bad_data_format", f"a {algorithm} imprint is {_DIGEST_SIZES[algorithm]} "
                                          f"bytes, not {len(hashed)}")
    policy_oid = req["req_policy"].native if req["req_policy"].native is not None else None
    if policy_oid is not None and policy_oid != policy.policy_oid:
        raise Rejected("unaccepted_policy", f"this TSA issues under policy {policy.policy_oid} "
                                            f"only, not {policy_oid}")
    if req["extensions"].native:
        # RFC 3161 §2.4.1: extensions the TSA does not recognise are refused.
        raise Rejected("unaccepted_extensions", "no request extensions are supported")
    nonce = req["nonce"].native
    if nonce is not None and abs(nonce).bit_length() > 256:
        raise Rejected("bad_request", "a nonce of more than 256 bits is not accepted")
    return TimestampRequest(imprint, algorithm, hashed, nonce, bool(req["cert_req"].native))
