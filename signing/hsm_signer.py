"""pyHanko's ``Signer`` over a ``cryptography`` private key object (our HSM key).

pyHanko's own PKCS11Signer would open a second PKCS#11 session and log in again, which SoftHSM2
refuses per process (DESIGN.md, "Keys"); signing through the core's key object shares the one
session and lock the core already holds.
"""

from __future__ import annotations

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

__all__ = ["KeySigner"]


class KeySigner(Signer):
    def __init__(self, key, certificate: asn1_x509.Certificate,
                 chain: list[asn1_x509.Certificate]):
        super().__init__(signing_cert=certificate,
                         cert_registry=SimpleCertificateStore.from_certs(chain))
        self._key = key

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        if dry_run:
            # A placeholder as long as the longest signature: DER ECDSA is 2 * (n + 3) + 3 bytes.
            size = (self._key.key_size + 7) // 8
            return bytes(2 * size + 9 if mechanism == "ecdsa" else size)
        if mechanism == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hash_algo))
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hash_algo)
        raise SigningError(f"signature mechanism {mechanism} is not supported for this key")
