"""A signer under a CA RegCA does not trust (software keys: they play an outside party)."""

from __future__ import annotations

import datetime as dt

from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.seal import to_asn1


def _cert(subject_cn, subject_key, issuer_cn, issuer_key, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    return (x509.CertificateBuilder().subject_name(name(subject_cn)).issuer_name(name(issuer_cn))
            .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))


def foreign_signer() -> signers.SimpleSigner:
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Obce CA", ca_key, "Obce CA", ca_key, True)
    leaf = _cert("Obcy Urząd", key, "Obce CA", ca_key, False)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return signers.SimpleSigner(to_asn1(leaf), asn1_keys.PrivateKeyInfo.load(der),
                                SimpleCertificateStore.from_certs([to_asn1(ca)]))
