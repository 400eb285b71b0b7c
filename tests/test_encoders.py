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

from ca.certbuilder import (
    Authority,
    CertificateSpec,
    build,
    encode_tbs,
    sign_as_builders_do,
    signature_algorithm,
    signature_hash,
)
from ca.der import signed
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
                if isinstance(key, rsa.RSAPrivateKey):  # PKCS#1 v1.5 signs deterministically
                    assert der == theirs.public_bytes(Encoding.DER)


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


@pytest.mark.parametrize("key_kind", sorted(KEYS))
def test_certificate_is_the_builders(key_kind):
    """The Certificate issuance frames around the TBSCertificate the HSM signed: the builder's
    bytes where the signature is deterministic (RSA PKCS#1 v1.5), and a certificate
    cryptography loads and verifies for every key."""
    key = KEYS[key_kind]()
    issuer = _authority(key)
    spec = CertificateSpec(load_profiles(ROOT / "policies").get("resident-signing"),
                           _name("Jan Nowak"), KEYS["ec-p256"]().public_key(),
                           ("jan.nowak@example.pl",))
    not_after = NOW + dt.timedelta(days=730)
    tbs = encode_tbs(spec, issuer, 2**159 - 1, NOW, not_after, URLS, key)
    signature = sign_as_builders_do(key, tbs)
    der = signed(tbs, signature_algorithm(key), signature)
    cert = x509.load_der_x509_certificate(der)
    assert cert.tbs_certificate_bytes == tbs and cert.signature == signature
    cert.verify_directly_issued_by(issuer.certificate)
    if isinstance(key, rsa.RSAPrivateKey):
        theirs = build(spec, issuer, 2**159 - 1, NOW, not_after, URLS).sign(
            key, signature_hash(key))
        assert der == theirs.public_bytes(Encoding.DER)


def test_single_response_echoes_a_cert_id_in_ber():
    """A CertID whose length is not in DER's shortest form (asn1crypto reads such requests)
    is echoed as the request encoded it."""
    key = KEYS["ec-p256"]()
    enc = ResponseEncoder(key, _authority(key).certificate, None)
    der_id = enc.cert_id("sha1", b"n" * 20, b"k" * 20, 9)
    ber_id = b"\x30\x81" + der_id[1:]  # the same CertID, its length in the long form
    single = enc.single(ber_id, CertStatus(9, "good"), NOW, NOW + dt.timedelta(days=4))
    assert ber_id in single
    parsed = a_ocsp.SingleResponse.load(single)
    assert parsed["cert_id"]["serial_number"].native == 9
    assert parsed["cert_status"].name == "good"
    # the response to the same CertID in DER, once asn1crypto writes it all in DER
    assert parsed.dump(force=True) == enc.single(der_id, CertStatus(9, "good"), NOW,
                                                 NOW + dt.timedelta(days=4))
