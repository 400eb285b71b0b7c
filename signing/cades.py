"""Detached CAdES baseline signatures (ETSI EN 319 122-1) built with asn1crypto.

The caller sends the bytes or only their SHA-256, so large files need not travel. Signed
attributes per EN 319 122-1 §5.1/§5.2: content-type, message-digest, signing-time and
signing-certificate-v2; B-T adds a signature-time-stamp unsigned attribute (RFC 3161
Appendix A) over the signature value.
"""

from __future__ import annotations

import asyncio
import hashlib

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from ca.clock import Clock
from ca.errors import DependencyUnavailable
from signing.options import CmsOptions
from signing.seal import Sealed, SealIdentity
from signing.stamps import token_serial

__all__ = ["CadesSealer"]


class CadesSealer:
    def __init__(self, clock: Clock, timestamper: TimeStamper | None):
        self.clock, self.timestamper = clock, timestamper
        self._per_cert: dict[x509.Certificate, tuple[bytes, bytes]] = {}

    def _constant_parts(self, certificate: x509.Certificate) -> tuple[cms.CMSAttribute,
                                                                     cms.SignerIdentifier]:
        """signing-certificate-v2 and the SignerIdentifier, encoded once per certificate:
        asn1crypto re-encodes a parsed Name on every use, which costs more than the HSM. Made
        from a copy of this call's own: a parsed asn1crypto value shared by the threads of a
        worker is not safe to dump in two of them at once (a TypeError under parallel seals)."""
        cached = self._per_cert.get(certificate)
        if cached is None:
            cert = _fresh(certificate)
            attr = simple_cms_attribute("signing_certificate_v2", as_signing_certificate_v2(cert))
            sid = cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": cert.issuer, "serial_number": cert.serial_number})})
            cached = self._per_cert[certificate] = (attr.dump(), sid.dump())
        return cms.CMSAttribute.load(cached[0]), cms.SignerIdentifier.load(cached[1])

    def seal(self, content: bytes, identity: SealIdentity, options: CmsOptions) -> Sealed:
        digest = options.digest if options.digest is not None else hashlib.sha256(content).digest()
        ess_cert_v2, sid = self._constant_parts(identity.certificate)
        # Step 1: the signed attributes; their DER (as a SET) is what the key signs (RFC 5652 §5.4).
        signed_attrs = cms.CMSAttributes([
            simple_cms_attribute("content_type", "data"),
            simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(
                self.clock.now())})),
            simple_cms_attribute("message_digest", digest),
            ess_cert_v2,
        ])
        # Step 2: the signature in the HSM.
        ecdsa = isinstance(identity.key, ec.EllipticCurvePrivateKey)
        if ecdsa:
            signature = identity.key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        else:
            signature = identity.key.sign(signed_attrs.dump(), padding.PKCS1v15(),
                                          hashes.SHA256())
        signer_info = {
            "version": "v1",
            "sid": sid,
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm(
                {"algorithm": "sha256_ecdsa" if ecdsa else "sha256_rsa"}),
            "signature": signature,
        }
        # Step 3: B-T, the timestamp over the signature value (EN 319 122-1 §5.3).
        stamps: tuple[int, ...] = ()
        if options.level == "B-T":
            token = self._timestamp(hashlib.sha256(signature).digest())
            stamps = (token_serial(token),)
            signer_info["unsigned_attrs"] = cms.CMSAttributes(
                [simple_cms_attribute("signature_time_stamp_token", token)])
        signed_data = cms.SignedData({
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "data"},  # detached: no eContent
            # Fresh, unparsed copies: asn1crypto re-checks parsed ones for mutation on dump.
            "certificates": [_fresh(c) for c in (identity.certificate, *identity.chain[:-1])],
            "signer_infos": [cms.SignerInfo(signer_info)],
        })
        return Sealed(cms.ContentInfo({"content_type": "signed_data",
                                       "content": signed_data}).dump(), stamps)

    def _timestamp(self, imprint: bytes) -> cms.ContentInfo:
        if self.timestamper is None:
            raise DependencyUnavailable("no TSA is configured for B-T")
        try:
            return asyncio.run(self.timestamper.async_timestamp(imprint, "sha256"))
        except TimestampRequestError as exc:
            raise DependencyUnavailable(f"the TSA did not answer: {exc}") from None


def _fresh(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))
