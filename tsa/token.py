"""Building and signing the time-stamp token (RFC 3161 §2.4.2, RFC 5816, RFC 5652).

Everything constant about a token is built once per process and kept as encoded asn1crypto
values (the certificate, the ESSCertIDv2 attribute, the algorithm identifiers, the TSA name).
asn1crypto re-encodes a value it built itself every time its parent is encoded (and deep-copies
it when a field re-tags it), but re-uses the bytes of a value it parsed; so each constant is
built once, encoded, and parsed back with the tagging of the field it goes into (``_frozen``).
A request then only encodes what changes: serial, genTime, nonce and the signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

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
    content_info: cms.ContentInfo  # the TimeStampToken


class TokenSigner:
    """Signs TSTInfo structures with the TSA key; constant parts are encoded once."""

    def __init__(self, certificate: x509.Certificate, key, policy: TsaPolicy):
        self._key = key
        self.not_before = certificate.not_valid_before_utc
        self.not_after = certificate.not_valid_after_utc
        cert_der = certificate.public_bytes(Encoding.DER)
        cert = asn1_x509.Certificate.load(cert_der)
        self._hash_name, self._sign_args = self._signature_scheme(key)

        # Step 1: the TSTInfo fields every token shares.
        self._version = _frozen(tsp.Version("v1"))
        self._policy = _frozen(core.ObjectIdentifier(policy.policy_oid))
        self._accuracy = _frozen(tsp.Accuracy(_accuracy_fields(policy.accuracy_millis)))
        self._tsa_name = _frozen(asn1_x509.GeneralName(
            name="directory_name", value=cert.subject), explicit=0)

        # Step 2: the SignedData and SignerInfo fields every token shares.
        self._digest_alg = _frozen(algos.DigestAlgorithm({"algorithm": self._hash_name}))
        self._digest_algs = _frozen(cms.DigestAlgorithms([self._digest_alg]))
        self._signature_alg = _frozen(algos.SignedDigestAlgorithm(
            self._signature_algorithm(key)))
        self._sid = _frozen(cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": cert.issuer, "serial_number": cert.serial_number}))
        self._certificates = _frozen(cms.CertificateSet([cms.CertificateChoices(
            name="certificate", value=cert)]), implicit=0)
        self._content_type_attr = _frozen(cms.CMSAttribute({"type": "content_type",
                                                            "values": ["tst_info"]}))
        # RFC 5816 §2.2.1: ESSCertIDv2 over the whole certificate, SHA-256 (the default, so
        # its AlgorithmIdentifier is omitted in DER).
        self._signing_cert_attr = _frozen(cms.CMSAttribute({
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
        tst_info = tsp.TSTInfo({
            "version": self._version,
            "policy": self._policy,
            "message_imprint": request.message_imprint,
            "serial_number": serial,
            "gen_time": gen_time,  # GeneralizedTime with the fraction, trailing zeros dropped
            "accuracy": self._accuracy,
            "nonce": request.nonce,
            "tsa": self._tsa_name,
        })
        tst_der = tst_info.dump()
        # RFC 5652 §5.3/§5.4: sign the DER SET OF signed attributes; messageDigest is the
        # hash of the eContent (the TSTInfo), contentType must equal eContentType.
        signed_attrs = cms.CMSAttributes([
            self._content_type_attr,
            cms.CMSAttribute({"type": "message_digest",
                              "values": [hashlib.new(self._hash_name, tst_der).digest()]}),
            self._signing_cert_attr,
        ]).dump()
        signature = self._key.sign(signed_attrs, *self._sign_args)
        signer_info = cms.SignerInfo({
            "version": "v1",
            "sid": self._sid,
            "digest_algorithm": self._digest_alg,
            # the same attributes, carried under their IMPLICIT [0] tag (RFC 5652 §5.3)
            "signed_attrs": cms.CMSAttributes.load(signed_attrs),
            "signature_algorithm": self._signature_alg,
            "signature": signature,
        })
        signed_data = cms.SignedData({
            "version": "v3",  # RFC 5652 §5.1: eContentType other than id-data
            "digest_algorithms": self._digest_algs,
            "encap_content_info": {"content_type": "tst_info",
                                   "content": core.ParsableOctetString(tst_der)},
            "certificates": self._certificates if request.cert_req else None,
            "signer_infos": [signer_info],
        })
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
        return IssuedToken(serial, gen_time, token)


def _frozen(value, **tagging):
    """``value`` parsed back from its encoding (see the module docstring), tagged as the field
    it goes into expects, so asn1crypto neither re-encodes nor copies it per token."""
    encoded = value.retag(tagging).dump() if tagging else value.dump()
    return type(value).load(encoded, **tagging)


def _accuracy_fields(millis: int) -> dict:
    seconds, millis = divmod(millis, 1000)
    return {"seconds": seconds or None, "millis": millis or None}
