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


def parse_request(der: bytes, policy: TsaPolicy) -> TimestampRequest:
    try:
        # asn1crypto parses lazily: every field is read here, inside this try
        req = tsp.TimeStampReq.load(der, strict=True)
        version = req["version"].native
        imprint = req["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        parameters = imprint["hash_algorithm"]["parameters"]
        hashed = imprint["hashed_message"].native
        policy_oid = req["req_policy"].native
        nonce = req["nonce"].native
        cert_req = bool(req["cert_req"].native)
        extensions = req["extensions"].native
    except (ValueError, TypeError, OverflowError) as exc:
        raise Rejected("bad_data_format", f"not a DER TimeStampReq: {exc}") from None
    if version != "v1":
        raise Rejected("bad_request", "TimeStampReq version must be 1 (RFC 3161 §2.4.1)")
    if algorithm not in policy.hash_algorithms:
        allowed = ", ".join(sorted(policy.hash_algorithms))
        raise Rejected("bad_alg", f"hash algorithm {algorithm} is not accepted (use {allowed})")
    if not isinstance(parameters, (core.Void, core.Null)):
        # RFC 5754 §2: SHA-2 AlgorithmIdentifiers have absent (or NULL) parameters.
        raise Rejected("bad_alg", "hash algorithm parameters must be absent or NULL")
    if len(hashed) != _DIGEST_SIZES[algorithm]:
        raise Rejected("bad_data_format", f"a {algorithm} imprint is {_DIGEST_SIZES[algorithm]} "
                                          f"bytes, not {len(hashed)}")
    if policy_oid is not None and policy_oid != policy.policy_oid:
        raise Rejected("unaccepted_policy", f"this TSA issues under policy {policy.policy_oid} "
                                            f"only, not {policy_oid}")
    if extensions:
        # RFC 3161 §2.4.1: extensions the TSA does not recognise are refused.
        raise Rejected("unaccepted_extensions", "no request extensions are supported")
    if nonce is not None and abs(nonce).bit_length() > 256:
        raise Rejected("bad_request", "a nonce of more than 256 bits is not accepted")
    return TimestampRequest(imprint, algorithm, hashed, nonce, cert_req)
