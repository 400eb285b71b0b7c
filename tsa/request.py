"""A TimeStampReq (RFC 3161 §2.4.1), parsed and checked against the TSA policy."""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import algos
from cryptography.hazmat import asn1
from cryptography.x509 import ObjectIdentifier

from ca.policy import TsaPolicy
from tsa.errors import Rejected
from tsa.structures import (
    AlgorithmIdentifier,
    AlgorithmWithParameters,
    MessageImprint,
    TimeStampReq,
)

__all__ = ["TimestampRequest", "parse_request", "request_for_digest"]

_DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


@dataclass(frozen=True)
class TimestampRequest:
    """What the token echoes: the imprint (kept as parsed, so it is re-emitted byte for byte),
    the nonce and whether the TSA certificate is wanted."""

    message_imprint: asn1.TLV
    hash_algorithm: str
    hashed_message: bytes
    nonce: int | None
    cert_req: bool


def request_for_digest(hash_algorithm: str, digest: bytes) -> TimestampRequest:
    """The request an in-process caller (the transparency log) stands for: no nonce, and the
    certificates wanted, as a signature's time-stamp wants them."""
    algorithm = asn1.decode_der(asn1.TLV, asn1.encode_der(AlgorithmIdentifier(
        algorithm=ObjectIdentifier(algos.DigestAlgorithmId.unmap(hash_algorithm)),
        parameters=None)))
    imprint = asn1.encode_der(MessageImprint(hash_algorithm=algorithm, hashed_message=digest))
    return TimestampRequest(asn1.decode_der(asn1.TLV, imprint), hash_algorithm, digest, None,
                            True)


def parse_request(der: bytes, policy: TsaPolicy) -> TimestampRequest:
    try:
        req = asn1.decode_der(TimeStampReq, der)
        imprint = req.message_imprint.parse(MessageImprint)
    except ValueError as exc:
        raise Rejected("bad_data_format", f"not a DER TimeStampReq: {exc}") from None
    if req.version != 1:
        raise Rejected("bad_request", "TimeStampReq version must be 1 (RFC 3161 §2.4.1)")
    algorithm = _digest_algorithm(imprint.hash_algorithm)
    if algorithm not in policy.hash_algorithms:
        allowed = ", ".join(sorted(policy.hash_algorithms))
        raise Rejected("bad_alg", f"hash algorithm {algorithm} is not accepted (use {allowed})")
    hashed = imprint.hashed_message
    if len(hashed) != _DIGEST_SIZES[algorithm]:
        raise Rejected("bad_data_format", f"a {algorithm} imprint is {_DIGEST_SIZES[algorithm]} "
                                          f"bytes, not {len(hashed)}")
    policy_oid = None if req.req_policy is None else req.req_policy.dotted_string
    if policy_oid is not None and policy_oid != policy.policy_oid:
        raise Rejected("unaccepted_policy", f"this TSA issues under policy {policy.policy_oid} "
                                            f"only, not {policy_oid}")
    if req.extensions:
        # RFC 3161 §2.4.1: extensions the TSA does not recognise are refused.
        raise Rejected("unaccepted_extensions", "no request extensions are supported")
    nonce = req.nonce
    if nonce is not None and abs(nonce).bit_length() > 256:
        raise Rejected("bad_request", "a nonce of more than 256 bits is not accepted")
    return TimestampRequest(req.message_imprint, algorithm, hashed, nonce, bool(req.cert_req))


def _digest_algorithm(identifier: asn1.TLV) -> str:
    """The algorithm's name (asn1crypto's, or the dotted OID of one it does not know)."""
    try:
        algorithm = identifier.parse(AlgorithmIdentifier).algorithm
    except ValueError:
        try:
            identifier.parse(AlgorithmWithParameters)
        except ValueError as exc:
            raise Rejected("bad_data_format",
                           f"not a DER AlgorithmIdentifier in the imprint: {exc}") from None
        # RFC 5754 §2: SHA-2 AlgorithmIdentifiers have absent (or NULL) parameters.
        raise Rejected("bad_alg", "hash algorithm parameters must be absent or NULL") from None
    return algos.DigestAlgorithmId.map(algorithm.dotted_string)
