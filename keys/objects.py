"""PKCS#11 keys presented as ``cryptography`` private keys.

cryptography's certificate, CRL and OCSP builders (and signxml) only call ``sign()`` and
``public_key()``; these classes route ``sign()`` to the HSM so the private key never exists
outside the token (DESIGN.md, "Keys: one abstraction, the HSM behind it").
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from asn1crypto.algos import DigestInfo
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pkcs11 import MGF, Mechanism

from ca.errors import KeyMismatch

if TYPE_CHECKING:
    from cryptography import x509

    from keys.hsm import Hsm

__all__ = ["Pkcs11EcKey", "Pkcs11RsaKey", "pkcs11_private_key", "digest_of", "spki_fingerprint",
           "require_certified"]

_HASH_MECH = {
    "sha1": (Mechanism.SHA_1, MGF.SHA1),
    "sha256": (Mechanism.SHA256, MGF.SHA256),
    "sha384": (Mechanism.SHA384, MGF.SHA384),
    "sha512": (Mechanism.SHA512, MGF.SHA512),
}


# hashlib's constructors for the usual hashes: a cryptography Hash object costs several times
# as much to make, and every certificate and OCSP response signed asks for one
_HASHLIB = {"sha1": hashlib.sha1, "sha224": hashlib.sha224, "sha256": hashlib.sha256,
            "sha384": hashlib.sha384, "sha512": hashlib.sha512}


def digest_of(data: bytes, algorithm) -> tuple[bytes, hashes.HashAlgorithm]:
    """The digest to sign: ``data`` itself when pre-hashed, else its hash."""
    if isinstance(algorithm, utils.Prehashed):
        return data, algorithm._algorithm
    make = _HASHLIB.get(algorithm.name)
    if make is not None:
        return make(data).digest(), algorithm
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize(), algorithm


class _Pkcs11Key:
    """What both key types share: the HSM, the role and the cached public key."""

    def __init__(self, hsm: Hsm, role: str, public_key):
        self._hsm = hsm
        self.role = role
        self._public_key = public_key

    def public_key(self):
        return self._public_key

    @property
    def key_size(self) -> int:
        return self._public_key.key_size

    def private_numbers(self):
        raise TypeError("the private key stays in the HSM")

    def private_bytes(self, *args, **kwargs):
        raise TypeError("the private key stays in the HSM")

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} role={self.role!r}>"


class Pkcs11EcKey(_Pkcs11Key, ec.EllipticCurvePrivateKey):
    @property
    def curve(self):
        return self._public_key.curve

    def sign(self, data: bytes, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise TypeError("only ECDSA is supported")
        digest, _ = digest_of(data, signature_algorithm.algorithm)
        raw = self._hsm.sign_raw(self.role, digest, Mechanism.ECDSA)
        half = len(raw) // 2  # PKCS#11 gives r || s; X.509 wants the DER Ecdsa-Sig-Value
        return utils.encode_dss_signature(int.from_bytes(raw[:half], "big"),
                                          int.from_bytes(raw[half:], "big"))

    def exchange(self, algorithm, peer_public_key) -> bytes:
        raise TypeError("signing keys are not used for key agreement")


class Pkcs11RsaKey(_Pkcs11Key, rsa.RSAPrivateKey):
    def sign(self, data: bytes, padding_: padding.AsymmetricPadding, algorithm) -> bytes:
        digest, hash_alg = digest_of(data, algorithm)
        if isinstance(padding_, padding.PKCS1v15):
            # CKM_RSA_PKCS signs a DigestInfo (RFC 8017 §9.2); asn1crypto encodes it.
            info = DigestInfo({"digest_algorithm": {"algorithm": hash_alg.name},
                               "digest": digest}).dump()
            return self._hsm.sign_raw(self.role, info, Mechanism.RSA_PKCS)
        if isinstance(padding_, padding.PSS):
            mech, mgf = _HASH_MECH[hash_alg.name]
            return self._hsm.sign_raw(self.role, digest, Mechanism.RSA_PKCS_PSS,
                                      (mech, mgf, self._salt_length(padding_, hash_alg)))
        raise TypeError(f"unsupported RSA padding {padding_.name}")

    def _salt_length(self, padding_: padding.PSS, hash_alg) -> int:
        salt = padding_._salt_length
        if isinstance(salt, int):
            return salt
        if isinstance(salt, padding._MaxLength):
            return (self.key_size + 7) // 8 - hash_alg.digest_size - 2
        return hash_alg.digest_size  # DIGEST_LENGTH and AUTO

    def decrypt(self, ciphertext: bytes, padding_) -> bytes:
        raise TypeError("signing keys are not used for decryption")


def pkcs11_private_key(hsm: Hsm, role: str, public_key):
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return Pkcs11EcKey(hsm, role, public_key)
    if isinstance(public_key, rsa.RSAPublicKey):
        return Pkcs11RsaKey(hsm, role, public_key)
    raise TypeError(f"unsupported key type {type(public_key).__name__}")


def spki_fingerprint(public_key) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, in hex: what ``openssl pkey -pubin -outform der
    | sha256sum`` prints for the same key, so an operator can compare it with the HSM's tools."""
    spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    h = hashes.Hash(hashes.SHA256())
    h.update(spki)
    return h.finalize().hex()


def require_certified(label: str, certificate: x509.Certificate, public_key) -> None:
    """Refuse a key that ``certificate`` does not certify: signing with it would give signatures
    that no relying party can verify under that certificate (RFC 5280 §4.1.2.7)."""
    held, certified = spki_fingerprint(public_key), spki_fingerprint(certificate.public_key())
    if held != certified:
        raise KeyMismatch(f"HSM key {label!r} is not the key of its certificate "
                          f"{certificate.serial_number:x}: HSM key SHA-256 {held}, "
                          f"certificate key SHA-256 {certified}")
