"""Turning a profile, a subject and a public key into a certificate builder.

Everything but the subject, the e-mail addresses and the public key comes from the profile and
the issuer; nothing is copied from the CSR (STYLE.md, "Allowlist what comes from the CSR").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca.profiles import Profile
from ca.urls import PublicUrls

__all__ = ["Authority", "CertificateSpec", "build", "signature_hash"]


@dataclass(frozen=True)
class Authority:
    """A CA that signs: its name in URLs (``root``, ``issuing``), certificate and HSM key."""

    name: str
    certificate: x509.Certificate
    key: object


@dataclass(frozen=True)
class CertificateSpec:
    profile: Profile
    subject: x509.Name
    public_key: object
    emails: tuple[str, ...] = field(default=())


def signature_hash(key) -> hashes.HashAlgorithm:
    """The hash that matches the signing key's strength (RFC 5480 §4 for EC)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: hashes.SHA256(), 384: hashes.SHA384()}.get(key.curve.key_size,
                                                                hashes.SHA512())
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    raise TypeError(f"unsupported CA key {type(key).__name__}")


def _issuer_key_identifier(issuer: Authority):
    ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


@lru_cache(maxsize=256)
def _template(profile: Profile, issuer: Authority | None, urls: PublicUrls
              ) -> x509.CertificateBuilder:
    """Everything a profile and an issuer fix, built once (issuance builds thousands)."""
    p = profile
    b = (x509.CertificateBuilder()
         .add_extension(x509.BasicConstraints(ca=p.is_ca,
                                              path_length=p.path_length if p.is_ca else None),
                        critical=True)
         .add_extension(p.x509_key_usage(), critical=True)
         .add_extension(x509.CertificatePolicies([
             x509.PolicyInformation(x509.ObjectIdentifier(p.policy_oid), None)]),
             critical=False))
    eku = p.x509_extended_key_usage()
    if eku is not None:
        b = b.add_extension(eku, critical=p.extended_key_usage_critical)
    if issuer is None:
        return b
    b = b.issuer_name(issuer.certificate.subject).add_extension(
        _issuer_key_identifier(issuer), critical=False)
    b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
        [x509.UniformResourceIdentifier(urls.crl(issuer.name))], None, None, None)]),
        critical=False)
    b = b.add_extension(x509.FreshestCRL([x509.DistributionPoint(
        [x509.UniformResourceIdentifier(urls.delta_crl(issuer.name))], None, None, None)]),
        critical=False)
    access = [x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                     x509.UniformResourceIdentifier(
                                         urls.ca_certificate(issuer.name)))]
    if not p.ocsp_nocheck:
        access.insert(0, x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP,
                                                x509.UniformResourceIdentifier(urls.ocsp)))
    b = b.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    if p.ocsp_nocheck:
        b = b.add_extension(x509.OCSPNoCheck(), critical=False)  # RFC 6960 §4.2.2.2.1
    return b


def build(spec: CertificateSpec, issuer: Authority | None, serial: int,
          not_before: dt.datetime, not_after: dt.datetime,
          urls: PublicUrls) -> x509.CertificateBuilder:
    """A builder for ``spec``; ``issuer`` None means self-signed (the root)."""
    b = (_template(spec.profile, issuer, urls)
         .subject_name(spec.subject)
         .public_key(spec.public_key)
         .serial_number(serial)
         .not_valid_before(not_before)
         .not_valid_after(not_after)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(spec.public_key),
                        critical=False))
    if issuer is None:
        b = b.issuer_name(spec.subject).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(spec.public_key), critical=False)
    if spec.emails:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.RFC822Name(e) for e in spec.emails]), critical=False)
    return b
