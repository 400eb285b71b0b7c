"""The RFC 3161 and RFC 5652 structures a time-stamp is made of, declared for cryptography's
DER codec (``cryptography.hazmat.asn1``, Rust).

The TSA answers every request with one parse and one token, so both are on its critical path:
asn1crypto took about 25 µs to parse a query and 35 µs to frame a token around its signature,
this codec a tenth of that. Parts that never change (the TSA's name, its certificates, the
algorithm identifiers and the constant signed attributes) are encoded once by asn1crypto and
carried here as ``TLV`` values, which the codec copies as they are.

Only the fields RegCA reads or writes are typed; the module names each one's clause.
"""

from __future__ import annotations

from typing import Annotated

from cryptography.hazmat import asn1
from cryptography.x509 import ObjectIdentifier

__all__ = ["AlgorithmIdentifier", "AlgorithmWithParameters", "Attribute", "ContentInfo",
           "EncapsulatedContentInfo", "MessageImprint", "SignedData", "SignerInfo", "TSTInfo",
           "TimeStampReq"]


@asn1.sequence
class AlgorithmIdentifier:
    """A digest algorithm as RFC 5754 §2 allows it: parameters absent or NULL."""

    algorithm: ObjectIdentifier
    parameters: asn1.Null | None


@asn1.sequence
class AlgorithmWithParameters:
    """Any other AlgorithmIdentifier (RFC 5280 §4.1.1.2): read only to say what is wrong."""

    algorithm: ObjectIdentifier
    parameters: asn1.TLV


@asn1.sequence
class MessageImprint:
    """RFC 3161 §2.4.1; the algorithm is read in a second step (``AlgorithmIdentifier``)."""

    hash_algorithm: asn1.TLV
    hashed_message: bytes


@asn1.sequence
class TimeStampReq:
    """RFC 3161 §2.4.1. The imprint stays a TLV: the token echoes it byte for byte."""

    version: int
    message_imprint: asn1.TLV
    req_policy: ObjectIdentifier | None
    nonce: int | None
    cert_req: bool | None  # DEFAULT FALSE; an encoded FALSE (not DER) is read too
    extensions: Annotated[list[asn1.TLV] | None, asn1.Implicit(0)]


@asn1.sequence
class TSTInfo:
    """RFC 3161 §2.4.2; ``ordering`` (DEFAULT FALSE) and ``extensions`` are never sent."""

    version: int
    policy: ObjectIdentifier
    message_imprint: asn1.TLV
    serial_number: int
    gen_time: asn1.GeneralizedTime
    accuracy: asn1.TLV
    nonce: int | None
    tsa: Annotated[asn1.TLV, asn1.Explicit(0)]  # a GeneralName: a CHOICE, so EXPLICIT


@asn1.sequence
class Attribute:
    """RFC 5652 §5.3: ``Attribute ::= SEQUENCE { attrType, attrValues SET OF }``."""

    type: ObjectIdentifier
    values: asn1.SetOf[bytes]


@asn1.sequence
class SignerInfo:
    """RFC 5652 §5.3. The codec sorts a SET OF into DER order (X.690 §11.6) when it encodes."""

    version: int
    sid: asn1.TLV
    digest_algorithm: asn1.TLV
    signed_attrs: Annotated[asn1.SetOf[asn1.TLV], asn1.Implicit(0)]
    signature_algorithm: asn1.TLV
    signature: bytes


@asn1.sequence
class EncapsulatedContentInfo:
    """RFC 5652 §5.2."""

    e_content_type: ObjectIdentifier
    e_content: Annotated[bytes, asn1.Explicit(0)]


@asn1.sequence
class SignedData:
    """RFC 5652 §5.1; ``crls`` is never sent."""

    version: int
    digest_algorithms: asn1.TLV
    encap_content_info: EncapsulatedContentInfo
    certificates: Annotated[asn1.SetOf[asn1.TLV] | None, asn1.Implicit(0)]
    signer_infos: asn1.SetOf[SignerInfo]


@asn1.sequence
class ContentInfo:
    """RFC 5652 §3: the TimeStampToken (RFC 3161 §2.4.2)."""

    content_type: ObjectIdentifier
    content: Annotated[SignedData, asn1.Explicit(0)]
