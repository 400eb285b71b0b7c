"""Building and signing the time-stamp token (RFC 3161 §2.4.2, RFC 5816, RFC 5652).

Building a token as a tree of asn1crypto values costs about a millisecond here, seven times the
HSM signature: asn1crypto re-encodes and copies values it built itself whenever a parent is
encoded. So everything constant about a token (the certificate, the ESSCertIDv2 attribute, the
algorithm identifiers, the TSA name, the policy) is encoded once per process by asn1crypto,
and a request only encodes what changes (serial, genTime, nonce, the digest and the
signature) with asn1crypto's own types. The structures around them are framed with
asn1crypto's TLV emitter (``ca.der``), field by field in the order RFC 3161 and RFC 5652
give; the test suite checks that asn1crypto re-encodes every token to the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core, parser, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from ca.der import context, sequence, set_of
from ca.policy import TsaPolicy
from tsa.request import TimestampRequest

__all__ = ["IssuedToken", "TokenSigner"]

# The signature's hash follows the key's strength (ETSI TS 119 312 §6.2.2).
_EC_HASHES = {256: "sha256", 384: "sha384", 521: "sha512"}
_CRYPTO_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


@dataclass(frozen=True)
class IssuedToken:
    serial: int
    gen_time: dt.datetime
    der: bytes  # the TimeStampToken: a ContentInfo holding SignedData


def _der(value) -> bytes:
    return value.dump()


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
        self._version = _der(tsp.Version("v1"))
        self._policy = _der(core.ObjectIdentifier(policy.policy_oid))
        self._accuracy = _der(tsp.Accuracy(_accuracy_fields(policy.accuracy_millis)))
        self._tsa_name = context(0, _der(asn1_x509.GeneralName(  # tsa [0] EXPLICIT
            name="directory_name", value=cert.subject)))

        # Step 2: the SignedData and SignerInfo fields every token shares (RFC 5652 §5).
        digest_alg = algos.DigestAlgorithm({"algorithm": self._hash_name})
        self._digest_alg = _der(digest_alg)
        self._digest_algs = _der(cms.DigestAlgorithms([digest_alg]))
        self._signature_alg = _der(algos.SignedDigestAlgorithm(self._signature_algorithm(key)))
        self._sid = _der(cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": cert.issuer, "serial_number": cert.serial_number}))
        # RFC 3161 §2.4.1: with certReq the TSA's certificate MUST be in the certificates
        # field, which "MAY also contain other certificates".
        certificates = _der(cms.CertificateSet([cms.CertificateChoices(
            name="certificate", value=asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)))
            for c in (certificate, *intermediates)]))
        self._certificates = context(0, parser.parse(certificates)[4])  # [0] IMPLICIT
        self._signer_version = _der(cms.CMSVersion("v1"))
        self._signed_data_version = _der(cms.CMSVersion("v3"))  # §5.1: eContentType not data
        self._tst_info_type = _der(cms.ContentType("tst_info"))
        self._signed_data_type = _der(cms.ContentType("signed_data"))
        self._content_type_attr = _der(cms.CMSAttribute({"type": "content_type",
                                                         "values": ["tst_info"]}))
        self._message_digest_type = _der(cms.CMSAttributeType("message_digest"))
        # RFC 5816 §2.2.1: ESSCertIDv2 over the whole certificate, SHA-256 (the default, so
        # its AlgorithmIdentifier is omitted in DER).
        self._signing_cert_attr = _der(cms.CMSAttribute({
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
        tst_der = sequence(  # TSTInfo; ordering (DEFAULT FALSE) and extensions are absent
            self._version,
            self._policy,
            request.message_imprint.dump(),  # as parsed: echoed byte for byte
            _der(core.Integer(serial)),
            _der(core.GeneralizedTime(gen_time)),  # with the fraction, trailing zeros dropped
            self._accuracy,
            b"" if request.nonce is None else _der(core.Integer(request.nonce)),
            self._tsa_name,
        )
        # RFC 5652 §5.3/§5.4: sign the DER SET OF signed attributes; messageDigest is the
        # hash of the eContent (the TSTInfo), contentType must equal eContentType. The three
        # are in DER order (X.690 §11.6: by encoding; here that is by length).
        attributes = b"".join((
            self._content_type_attr,
            sequence(self._message_digest_type, set_of(_der(core.OctetString(
                hashlib.new(self._hash_name, tst_der).digest())))),
            self._signing_cert_attr,
        ))
        signature = self._key.sign(set_of(attributes), *self._sign_args)
        signer_info = sequence(
            self._signer_version,
            self._sid,
            self._digest_alg,
            context(0, attributes),  # signedAttrs [0] IMPLICIT: the same SET, retagged
            self._signature_alg,
            _der(core.OctetString(signature)),
        )
        signed_data = sequence(
            self._signed_data_version,
            self._digest_algs,
            sequence(self._tst_info_type, context(0, _der(core.OctetString(tst_der)))),
            self._certificates if request.cert_req else b"",
            set_of(signer_info),
        )
        token = sequence(self._signed_data_type, context(0, signed_data))
        return IssuedToken(serial, gen_time, token)


def _accuracy_fields(millis: int) -> dict:
    seconds, millis = divmod(millis, 1000)
    return {"seconds": seconds or None, "millis": millis or None}
