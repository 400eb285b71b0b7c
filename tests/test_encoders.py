"""The hot-path encoders against cryptography's builders as the oracle: the TBSCertificate
issuance signs and the OCSP responses it pre-signs must be the builders' bytes exactly.
(pkilint, openssl and pyHanko judge the same certificates and responses elsewhere.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from asn1crypto import ocsp as a_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from ca.certbuilder import Authority, CertificateSpec, build, encode_tbs, signature_hash
from ca.ocsp_encoding import CertStatus, ResponseEncoder
from ca.profiles import load_profiles
from ca.urls import PublicUrls

ROOT = Path(__file__).resolve().parents[1]
URLS = PublicUrls("http://ca.example.pl")
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)
KEYS = {"ec-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "rsa-2048": lambda: rsa.generate_private_key(65537, 2048)}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Województwo Testowe"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _authority(key) -> Authority:
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(_name("Issuing")).issuer_name(_name("Root"))
            .public_key(key.public_key()).serial_number(7).not_valid_before(NOW)
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(ski, critical=False).sign(key, signature_hash(key)))
    return Authority("issuing", cert, key)


@pytest.mark.parametrize("issuer_kind", sorted(KEYS))
@pytest.mark.parametrize("profile", sorted(p.name for p in load_profiles(ROOT / "policies")))
def test_tbs_is_the_builders(profile, issuer_kind):
    profile = load_profiles(ROOT / "policies").get(profile)
    issuer_key = KEYS[issuer_kind]()
    subject_key = KEYS["ec-p256"]().public_key()
    for issuer in (_authority(issuer_key), None):  # None: self-signed, as the root is
        for emails in ((), ("jan.nowak@example.pl", "sekretariat@gmina.example.pl")):
            spec = CertificateSpec(profile, _name("Jan Nowak"), subject_key, emails)
            for not_after in (NOW + dt.timedelta(days=730),
                              dt.datetime(2051, 1, 1, tzinfo=dt.timezone.utc)):  # 2050 rule
                serial = 0x7F3A_9C01_22D4_5E6B_0011
                signer = issuer.key if issuer else issuer_key
                expected = build(spec, issuer, serial, NOW, not_after, URLS).sign(
                    signer, signature_hash(signer)).tbs_certificate_bytes
                assert encode_tbs(spec, issuer, serial, NOW, not_after, URLS,
                                  signer) == expected


_STATES = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
           "unknown": ocsp.OCSPCertStatus.UNKNOWN}


@pytest.mark.parametrize("key_kind", sorted(KEYS))
@pytest.mark.parametrize("status", [
    CertStatus(2**70 + 3, "good"),
    CertStatus(2**70 + 3, "revoked", NOW, x509.ReasonFlags.key_compromise),
    CertStatus(5, "revoked", NOW, None),
    CertStatus(5, "unknown")], ids=["good", "revoked-reason", "revoked", "unknown"])
def test_ocsp_response_is_the_builders(key_kind, status):
    key = KEYS[key_kind]()
    responder = _authority(key).certificate
    this_update, next_update = NOW, NOW + dt.timedelta(days=4)
    for algorithm, digest in (("sha1", hashes.SHA1()), ("sha256", hashes.SHA256())):
        name_hash, key_hash = b"n" * digest.digest_size, b"k" * digest.digest_size
        for nonce in (None, bytes(range(16))):
            for include in ([responder], None):
                b = (ocsp.OCSPResponseBuilder()
                     .add_response_by_hash(name_hash, key_hash, status.serial, digest,
                                           _STATES[status.state], this_update, next_update,
                                           status.revoked_at, status.reason)
                     .responder_id(ocsp.OCSPResponderEncoding.HASH, responder))
                if include:
                    b = b.certificates(include)
                if nonce:
                    b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
                theirs = b.sign(key, signature_hash(key))
                enc = ResponseEncoder(key, responder, include)
                single = enc.single(enc.cert_id(algorithm, name_hash, key_hash, status.serial),
                                    status, this_update, next_update)
                der = enc.response([single], theirs.produced_at_utc, nonce)
                ours = ocsp.load_der_ocsp_response(der)
                assert ours.tbs_response_bytes == theirs.tbs_response_bytes
                assert ours.signature_algorithm_oid == theirs.signature_algorithm_oid
                assert ours.certificates == theirs.certificates
                assert a_ocsp.OCSPResponse.load(der).dump(force=True) == der  # canonical DER
                _verify(key.public_key(), ours)


def _verify(public_key, response: ocsp.OCSPResponse) -> None:
    """Raises unless the signature covers the ResponseData."""
    h = response.signature_hash_algorithm
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(h))
    else:
        public_key.verify(response.signature, response.tbs_response_bytes,
                          padding.PKCS1v15(), h)


def test_response_names_the_responder_by_key():
    key = KEYS["ec-p256"]()
    responder = _authority(key).certificate
    enc = ResponseEncoder(key, responder, [responder])
    der = enc.response([enc.single(enc.cert_id("sha256", b"n" * 32, b"k" * 32, 9),
                                   CertStatus(9, "good"), NOW, NOW)], NOW)
    parsed = ocsp.load_der_ocsp_response(der)
    assert parsed.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(
        key.public_key()).digest
    assert parsed.certificates[0].public_bytes(Encoding.DER) == responder.public_bytes(
        Encoding.DER)
