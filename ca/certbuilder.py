"""Turning a profile, a subject and a public key into a certificate builder.

Everything but the subject, the e-mail addresses and the public key comes from the profile and
the issuer; nothing is copied from the CSR (STYLE.md, "Allowlist what comes from the CSR").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

from asn1crypto import algos, core
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ca.der import context, sequence
from ca.profiles import Profile
from ca.urls import PublicUrls

__all__ = ["Authority", "CertificateSpec", "build", "encode_tbs", "signature_algorithm",
           "signature_hash", "sign_as_builders_do"]


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


# made once: every certificate and OCSP response signed asks for them
_EC_HASHES = {256: hashes.SHA256(), 384: hashes.SHA384()}
_SHA256, _SHA512 = hashes.SHA256(), hashes.SHA512()


def signature_hash(key) -> hashes.HashAlgorithm:
    """The hash that matches the signing key's strength (RFC 5480 §4 for EC)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _EC_HASHES.get(key.curve.key_size, _SHA512)
    if isinstance(key, rsa.RSAPrivateKey):
        return _SHA256
    raise TypeError(f"unsupported CA key {type(key).__name__}")


def sign_as_builders_do(key, data: bytes) -> bytes:
    """Sign ``data`` with the scheme cryptography's builders use for ``key`` (ECDSA, or RSA
    PKCS#1 v1.5, with ``signature_hash``), for structures framed outside a builder."""
    h = signature_hash(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(h))
    return key.sign(data, padding.PKCS1v15(), h)


@lru_cache(maxsize=64)
def signature_algorithm(key) -> bytes:
    """The AlgorithmIdentifier cryptography's builders write for ``key``: ECDSA without
    parameters (RFC 5758 §3.2), RSA PKCS#1 v1.5 with NULL ones (RFC 4055 §5)."""
    h = signature_hash(key).name
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return algos.SignedDigestAlgorithm({"algorithm": f"{h}_ecdsa"}).dump()
    return algos.SignedDigestAlgorithm({"algorithm": f"{h}_rsa",
                                        "parameters": core.Null()}).dump()


def _issuer_key_identifier(issuer: Authority):
    ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def _policies(profile: Profile, urls: PublicUrls) -> x509.CertificatePolicies:
    """The profile's policies in its order; an end entity's own policy carries the CPS URI
    qualifier (RFC 5280 §4.2.1.4), so a relying party finds the practice statement."""
    return x509.CertificatePolicies([
        x509.PolicyInformation(x509.ObjectIdentifier(oid),
                               [urls.cps] if oid == profile.own_policy else None)
        for oid in profile.policy_oids])


_Extensions = tuple[tuple[x509.ExtensionType, bool], ...]  # (value, critical), in order


@lru_cache(maxsize=256)
def _fixed_extensions(profile: Profile, issuer: Authority | None, urls: PublicUrls
                      ) -> _Extensions:
    """The extensions a profile and an issuer fix, made once (issuance makes thousands)."""
    p = profile
    out = [(x509.BasicConstraints(ca=p.is_ca, path_length=p.path_length if p.is_ca else None),
            True),
           (p.x509_key_usage(), True),
           (_policies(p, urls), False)]
    eku = p.x509_extended_key_usage()
    if eku is not None:
        out.append((eku, p.extended_key_usage_critical))
    if issuer is None:
        return tuple(out)
    out.append((_issuer_key_identifier(issuer), False))
    out.append((x509.CRLDistributionPoints([x509.DistributionPoint(
        [x509.UniformResourceIdentifier(urls.crl(issuer.name))], None, None, None)]), False))
    out.append((x509.FreshestCRL([x509.DistributionPoint(
        [x509.UniformResourceIdentifier(urls.delta_crl(issuer.name))], None, None, None)]),
        False))
    access = [x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                     x509.UniformResourceIdentifier(
                                         urls.ca_certificate(issuer.name)))]
    if not p.ocsp_nocheck:
        access.insert(0, x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP,
                                                x509.UniformResourceIdentifier(urls.ocsp)))
    out.append((x509.AuthorityInformationAccess(access), False))
    if p.ocsp_nocheck:
        out.append((x509.OCSPNoCheck(), False))  # RFC 6960 §4.2.2.2.1
    return tuple(out)


def _subject_extensions(spec: CertificateSpec, issuer: Authority | None) -> _Extensions:
    """The extensions that follow the subject: its key identifier (and, self-signed, the
    authority's, which is the same key) and its e-mail addresses."""
    out = [(x509.SubjectKeyIdentifier.from_public_key(spec.public_key), False)]
    if issuer is None:
        out.append((x509.AuthorityKeyIdentifier.from_issuer_public_key(spec.public_key), False))
    if spec.emails:
        out.append((x509.SubjectAlternativeName([x509.RFC822Name(e) for e in spec.emails]),
                    False))
    return tuple(out)


@lru_cache(maxsize=256)
def _template(profile: Profile, issuer: Authority | None, urls: PublicUrls
              ) -> x509.CertificateBuilder:
    b = x509.CertificateBuilder()
    if issuer is not None:
        b = b.issuer_name(issuer.certificate.subject)
    for value, critical in _fixed_extensions(profile, issuer, urls):
        b = b.add_extension(value, critical=critical)
    return b


def build(spec: CertificateSpec, issuer: Authority | None, serial: int,
          not_before: dt.datetime, not_after: dt.datetime,
          urls: PublicUrls) -> x509.CertificateBuilder:
    """A cryptography builder for ``spec``; ``issuer`` None means self-signed (the root).
    ``encode_tbs`` writes the same TBSCertificate without one."""
    b = (_template(spec.profile, issuer, urls)
         .subject_name(spec.subject)
         .public_key(spec.public_key)
         .serial_number(serial)
         .not_valid_before(not_before)
         .not_valid_after(not_after))
    if issuer is None:
        b = b.issuer_name(spec.subject)
    for value, critical in _subject_extensions(spec, issuer):
        b = b.add_extension(value, critical=critical)
    return b


# -- the TBSCertificate from encoded parts ------------------------------------------------------

_VERSION_3 = context(0, core.Integer(2).dump())  # version [0] EXPLICIT v3 (RFC 5280 §4.1.2.1)
_CRITICAL = core.Boolean(True).dump()  # DEFAULT FALSE: written only when true (X.690 §11.5)


@lru_cache(maxsize=64)
def _oid(dotted: str) -> bytes:
    return core.ObjectIdentifier(dotted).dump()


def _extension(value: x509.ExtensionType, critical: bool) -> bytes:
    return sequence(_oid(value.oid.dotted_string),
                    _CRITICAL if critical else b"", core.OctetString(value.public_bytes()).dump())


@lru_cache(maxsize=64)  # a second's certificates share their validity
def _time(value: dt.datetime) -> bytes:
    """UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)."""
    kind = "utc_time" if value.year < 2050 else "general_time"
    return a_x509.Time(name=kind, value=value).dump()


@lru_cache(maxsize=256)
def _fixed_parts(profile: Profile, issuer: Authority | None, urls: PublicUrls, key
                 ) -> tuple[bytes, bytes, bytes]:
    """``(signature algorithm, issuer name, fixed extensions)``, encoded once."""
    issuer_name = issuer.certificate.subject.public_bytes() if issuer else b""
    extensions = b"".join(_extension(v, c) for v, c in _fixed_extensions(profile, issuer, urls))
    return signature_algorithm(key), issuer_name, extensions


def encode_tbs(spec: CertificateSpec, issuer: Authority | None, serial: int,
               not_before: dt.datetime, not_after: dt.datetime, urls: PublicUrls,
               key) -> bytes:
    """The DER TBSCertificate (RFC 5280 §4.1) that ``build(...).sign(key, ...)`` would sign,
    field for field and byte for byte (tests/test_encoders.py compares them), at half the
    cost of building one: what the profile and the issuer fix is encoded once, and per
    certificate only the serial, validity, subject, key and its identifiers are."""
    algorithm, issuer_name, fixed = _fixed_parts(spec.profile, issuer, urls, key)
    subject = spec.subject.public_bytes()
    return sequence(
        _VERSION_3,
        core.Integer(serial).dump(),
        algorithm,
        issuer_name or subject,
        sequence(_time(not_before), _time(not_after)),
        subject,
        spec.public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
        context(3, sequence(fixed, *(_extension(v, c)
                                     for v, c in _subject_extensions(spec, issuer)))),
    )
