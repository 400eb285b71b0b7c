"""Where signature and document timestamps come from: RegCA's TSA, reached over RFC 3161 HTTP.

The timestamper is pluggable. In service it is pyHanko's HTTP client pointed at the configured
TSA URL (``ctx.urls.tsa`` unless ``[signing] tsa_url`` says otherwise). ``HsmTimeStamper``
stamps in-process with the TSA key in the HSM: the tests use it when the ``/tsa`` route is not
mounted, and ``[signing] timestamper = "in-process"`` selects it for a home that runs the
signing API without the TSA service.
"""

from __future__ import annotations

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import ec, padding
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from ca.clock import Clock
from ca.context import CaContext

__all__ = ["HsmTimeStamper", "http_timestamper", "in_process_timestamper"]


class HsmTimeStamper(DummyTimeStamper):
    """An RFC 3161 TSA inside the process, signing TSTInfo with a key object from the HSM."""

    def __init__(self, tsa_cert: asn1_x509.Certificate, key, clock: Clock,
                 chain: list[asn1_x509.Certificate] = ()):
        super().__init__(tsa_cert, tsa_key=None, certs_to_embed=list(chain))
        self._key, self._clock = key, clock
        # Encoded once: asn1crypto re-encodes a parsed Name on every use (milliseconds each).
        self._ess_der = simple_cms_attribute(
            "signing_certificate_v2", as_signing_certificate_v2(tsa_cert)).dump()
        self._tsa_name_der = asn1_x509.GeneralName(
            name="directory_name", value=tsa_cert.subject).dump()
        self._sid_der = cms.SignerIdentifier({"issuer_and_serial_number": {
            "issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}}).dump()
        self._certs_der = [c.dump() for c in (tsa_cert, *chain)]

    def _build_tst_info(self, message_imprint, dt, req):
        info = super()._build_tst_info(message_imprint, dt, req)
        info["tsa"] = asn1_x509.GeneralName.load(self._tsa_name_der)
        return info

    @property
    def fixed_dt(self):
        return self._clock.now()

    @fixed_dt.setter
    def fixed_dt(self, _value):
        pass  # the clock decides

    def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, dt):
        hash_algo = get_pyca_cryptography_hash(md_algorithm)
        digest = _digest(tst_info_data, hash_algo)
        # RFC 5816: ESSCertIDv2 identifies the TSA certificate with SHA-256.
        signed_attrs = cms.CMSAttributes([
            simple_cms_attribute("content_type", "tst_info"),
            simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
            cms.CMSAttribute.load(self._ess_der),
            simple_cms_attribute("message_digest", digest),
        ])
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            signature = self._key.sign(signed_attrs.dump(), ec.ECDSA(hash_algo))
        else:
            signature = self._key.sign(signed_attrs.dump(), padding.PKCS1v15(), hash_algo)
        return signature, signed_attrs

    def _build_signed_data(self, tst_info_data, md_algorithm, signature, signed_attrs):
        digest_algorithm = algos.DigestAlgorithm({"algorithm": md_algorithm})
        ecdsa = isinstance(self._key, ec.EllipticCurvePrivateKey)
        signer_info = cms.SignerInfo({
            "version": "v1", "sid": cms.SignerIdentifier.load(self._sid_der),
            "digest_algorithm": digest_algorithm,
            "signature_algorithm": algos.SignedDigestAlgorithm(
                {"algorithm": f"{md_algorithm}_ecdsa" if ecdsa else "rsassa_pkcs1v15"}),
            "signed_attrs": signed_attrs, "signature": signature})
        return {
            "version": "v3",  # RFC 3161 §2.4.2: eContentType id-ct-TSTInfo needs v3
            "digest_algorithms": cms.DigestAlgorithms((digest_algorithm,)),
            "encap_content_info": cms.EncapsulatedContentInfo({
                "content_type": cms.ContentType("tst_info"),
                "content": cms.ParsableOctetString(tst_info_data)}),
            "certificates": [asn1_x509.Certificate.load(d) for d in self._certs_der],
            "signer_infos": [signer_info],
        }


def _digest(data: bytes, hash_algo) -> bytes:
    from cryptography.hazmat.primitives import hashes
    h = hashes.Hash(hash_algo)
    h.update(data)
    return h.finalize()


def in_process_timestamper(ctx: CaContext) -> TimeStamper:
    from signing.seal import to_asn1
    certificate, key = ctx.key_pair("tsa")
    return HsmTimeStamper(to_asn1(certificate), key, ctx.clock, [to_asn1(c) for c in ctx.chain()])


def http_timestamper(url: str, timeout: float = 10) -> TimeStamper:
    return RequestsHTTPTimeStamper(url, timeout=timeout)
