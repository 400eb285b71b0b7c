"""Building and signing the time-stamp token (RFC 3161 §2.4.2, RFC 5816, RFC 5652).

Everything constant about a token (the certificates, the ESSCertIDv2 attribute, the algorithm
identifiers, the TSA name, the accuracy) is encoded once per process by asn1crypto; a request
only adds what changes (serial, genTime, nonce, the imprint, the digest and the signature), and
the structures around them are encoded by cryptography's DER codec (tsa/structures.py), which
costs a tenth of building them with asn1crypto. The test suite checks that asn1crypto re-encodes
every token to the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ObjectIdentifier

from ca.policy import TsaPolicy
from tsa.request import TimestampRequest
from tsa.structures import (
    Attribute,
    ContentInfo,
    EncapsulatedContentInfo,
    SignedData,
    SignerInfo,
    TSTInfo,
)

__all__ = ["IssuedToken", "TokenSigner"]

# The signature's hash follows the key's strength (ETSI TS 119 312 §6.2.2).
_EC_HASHES = {256: "sha256", 384: "sha384", 521: "sha512"}
_CRYPTO_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


@dataclass(frozen=True)
class IssuedToken:
    serial: int
    gen_time: dt.datetime
    der: bytes  # the TimeStampToken: a ContentInfo holding SignedData


def _tlv(value) -> asn1.TLV:
    """An asn1crypto value, encoded once, as the DER codec carries it."""
    return asn1.decode_der(asn1.TLV, value.dump())


def _oid(value) -> ObjectIdentifier:
    """An OID by asn1crypto's name for it, as the DER codec carries it."""
    return ObjectIdentifier(value.dotted)


_TST_INFO = _oid(cms.ContentType("tst_info"))  # RFC 3161 §2.4.2
_SIGNED_DATA = _oid(cms.ContentType("signed_data"))  # RFC 5652 §5.1
_MESSAGE_DIGEST = _oid(cms.CMSAttributeType("message_digest"))  # RFC 5652 §11.2


class TokenSigner:
    """Signs TSTInfo structures with the TSA key; constant parts are encoded once."""

    def __init__(self, certificate: x509.Certificate, key, policy: TsaPolicy,
                 intermediates: Sequence[x509.Certificate] = ()):
        """``intermediates``: the CA certificates between the TSA's and the root, sent with it
        when the request asks for certificates, so a relying party that trusts only the root
        can build the path from the token alone."""
        self._key = key
        self.not_before = certificate.not_valid_before_utc
        self.not_after = certificate.not_valid_after_utc
        cert_der = certificate.public_bytes(Encoding.DER)
        cert = asn1_x509.Certificate.load(cert_der)
        self._hash_name, self._sign_args = self._signature_scheme(key)

        # Step 1: the TSTInfo fields every token shares (RFC 3161 §2.4.2).
        self._policy = ObjectIdentifier(policy.policy_oid)
        self._accuracy = _tlv(tsp.Accuracy(_accuracy_fields(policy.accuracy_millis)))
        self._tsa_name = _tlv(asn1_x509.GeneralName(name="directory_name", value=cert.subject))

        # Step 2: the SignedData and SignerInfo fields every token shares (RFC 5652 §5).
        digest_alg = algos.DigestAlgorithm({"algorithm": self._hash_name})
        self._digest_alg = _tlv(digest_alg)
        self._digest_algs = _tlv(cms.DigestAlgorithms([digest_alg]))
        self._signature_alg = _tlv(algos.SignedDigestAlgorithm(self._signature_algorithm(key)))
        self._sid = _tlv(cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": cert.issuer, "serial_number": cert.serial_number}))
        # RFC 3161 §2.4.1: with certReq the TSA's certificate MUST be in the certificates
        # field, which "MAY also contain other certificates".
        self._certificates = asn1.SetOf([
            asn1.decode_der(asn1.TLV, c.public_bytes(Encoding.DER))
            for c in (certificate, *intermediates)])
        self._content_type_attr = _tlv(cms.CMSAttribute({"type": "content_type",
                                                         "values": ["tst_info"]}))
        # RFC 5816 §2.2.1: ESSCertIDv2 over the whole certificate, SHA-256 (the default, so
        # its AlgorithmIdentifier is omitted in DER).
        self._signing_cert_attr = _tlv(cms.CMSAttribute({
            "type": "signing_certificate_v2",
            "values": [tsp.SigningCertificateV2({"certs": [tsp.ESSCertIDv2({
                "cert_hash": hashlib.sha256(cert_der).digest(),
                "issuer_serial": {
                    "issuer": [asn1_x509.GeneralName(name="directory_name", value=cert.issuer)],
                    "serial_number": cert.serial_number},
            })]})],
        }))

    @staticmethod
    def _signature_scheme(key) -> tuple[str, tuple]:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            name = _EC_HASHES[key.curve.key_size]
            return name, (ec.ECDSA(_CRYPTO_HASHES[name]()),)
        if isinstance(key, rsa.RSAPrivateKey):
            return "sha256", (padding.PKCS1v15(), hashes.SHA256())
        raise TypeError(f"unsupported TSA key type {type(key).__name__}")

    def _signature_algorithm(self, key) -> dict:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return {"algorithm": f"{self._hash_name}_ecdsa"}  # RFC 5754 §3.3: no parameters
        return {"algorithm": "rsassa_pkcs1v15", "parameters": core.Null()}  # RFC 3370 §3.2

    def sign(self, request: TimestampRequest, serial: int, gen_time: dt.datetime) -> IssuedToken:
        """The TimeStampToken for ``request``: a SignedData over a TSTInfo (RFC 3161 §2.4.2)."""
        tst_der = asn1.encode_der(TSTInfo(
            version=1,
            policy=self._policy,
            message_imprint=request.message_imprint,  # as parsed: echoed byte for byte
            serial_number=serial,
            gen_time=asn1.GeneralizedTime(gen_time),  # with the fraction, trailing zeros dropped
            accuracy=self._accuracy,
            nonce=request.nonce,
            tsa=self._tsa_name,
        ))
        # RFC 5652 §5.3/§5.4: sign the DER SET OF signed attributes; messageDigest is the
        # hash of the eContent (the TSTInfo), contentType must equal eContentType.
        attributes = asn1.SetOf([
            self._content_type_attr,
            asn1.decode_der(asn1.TLV, asn1.encode_der(Attribute(
                type=_MESSAGE_DIGEST,
                values=asn1.SetOf([hashlib.new(self._hash_name, tst_der).digest()])))),
            self._signing_cert_attr,
        ])
        signature = self._key.sign(asn1.encode_der(attributes), *self._sign_args)
        token = asn1.encode_der(ContentInfo(content_type=_SIGNED_DATA, content=SignedData(
            version=3,  # §5.1: eContentType is not id-data
            digest_algorithms=self._digest_algs,
            encap_content_info=EncapsulatedContentInfo(e_content_type=_TST_INFO,
                                                       e_content=tst_der),
            certificates=self._certificates if request.cert_req else None,
            signer_infos=asn1.SetOf([SignerInfo(
                version=1,
                sid=self._sid,
                digest_algorithm=self._digest_alg,
                signed_attrs=attributes,  # [0] IMPLICIT: the same SET, retagged
                signature_algorithm=self._signature_alg,
                signature=signature,
            )]),
        )))
        return IssuedToken(serial, gen_time, token)


def _accuracy_fields(millis: int) -> dict:
    seconds, millis = divmod(millis, 1000)
    return {"seconds": seconds or None, "millis": millis or None}
