"""Signing OCSP responses (RFC 6960) with the HSM: the delegated responder key for the
certificates of the issuing CA that issued the responder's certificate, each other CA's own key
for its certificates (RFC 6960 §4.2.2.2 allows both): the root's (pre-signed only: a root key is
normally offline) and a retired issuing-CA generation's (pre-signed by the jobs, whose process
holds its key; ca/issuing_cas.py).

Deciding status is ``status_of``; signing is ``OcspSigner``; serving lives in ``ocsp/``
(STYLE.md, "three jobs kept apart").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from asn1crypto import ocsp as a_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ca.context import KeyPair
from ca.ocsp_encoding import CertStatus, ResponseEncoder

__all__ = ["HASHES", "PRESIGNED", "VALIDITY", "CertStatus", "IssuerHashes", "OcspSigner",
           "SignerSource", "status_of", "issuer_hashes"]

# CertID hash algorithms answered (RFC 5019 §2.1.1 mandates SHA-1; RFC 6960 clients may send
# SHA-256).
HASHES: dict[str, hashes.HashAlgorithm] = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}

# Pre-signed for every certificate, at issuance and by the refresh job: SHA-1, which OpenSSL,
# pyHanko, NSS, Java and Windows send by default (RFC 5019 §2.1.1 mandates it). An issuing-CA
# certificate's SHA-256 response is signed on its first request and kept fresh from then on,
# which spares the HSM a signature per certificate that few clients would ask for; the offline
# root signs nothing on demand, so its responses are all pre-signed.
PRESIGNED: dict[str, tuple[str, ...]] = {"issuing": ("sha1",), "root": tuple(HASHES)}

# How long a response is valid (nextUpdate - thisUpdate). Responses are refreshed when less
# than half of it is left (RFC 5019 §4: refresh well before nextUpdate). The root's are signed
# at its ceremonies only, valid until past the next one (``OcspSigner(root_validity=...)``
# from policies/ceremonies.toml); the value here is the fallback of a signer without one.
VALIDITY = {"issuing": dt.timedelta(days=4), "root": dt.timedelta(days=30)}


def status_of(serial: int, row: tuple | None, ca: str) -> CertStatus:
    """Status from a row ``(serial, issuer, status, revoked_at, reason)`` of ``ca``'s store.

    Abandoned issuances count as revoked without a reason (Issuer.reconcile); pending rows and
    other issuers' serials are unknown (RFC 6960 §2.2). ``unspecified`` is left out, as
    RFC 5280 §5.3.1 asks of CRL entries.
    """
    if row is None or row[1] != ca or row[2] == "pending":
        return CertStatus(serial, "unknown")
    if row[2] == "issued":
        return CertStatus(serial, "good")
    reason = row[4] if row[2] == "revoked" else None
    # The store keeps RFC 5280 reason names, which are ReasonFlags' values.
    flag = x509.ReasonFlags(reason) if reason and reason != "unspecified" else None
    # GeneralizedTime carries no fractional seconds (RFC 5280 §4.1.2.5.2, RFC 6960 §4.2.2.1).
    return CertStatus(serial, "revoked", row[3].replace(microsecond=0), flag)


@dataclass(frozen=True)
class IssuerHashes:
    """A CertID's issuer part (RFC 6960 §4.1.1) for one CA and hash algorithm."""

    ca: str
    algorithm: str
    name_hash: bytes
    key_hash: bytes


def _digest(algorithm: str, data: bytes) -> bytes:
    h = hashes.Hash(HASHES[algorithm])
    h.update(data)
    return h.finalize()


def issuer_hashes(ca: str, certificate: x509.Certificate) -> list[IssuerHashes]:
    """The issuerNameHash and issuerKeyHash of ``certificate`` as an issuer, per hash: the
    key hash covers the subjectPublicKey BIT STRING's value only (RFC 6960 §4.1.1)."""
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key_bits = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    else:
        key_bits = key.public_bytes(Encoding.DER, PublicFormat.PKCS1)
    name = certificate.subject.public_bytes()
    return [IssuerHashes(ca, alg, _digest(alg, name), _digest(alg, key_bits)) for alg in HASHES]


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """By name and key identifier (RFC 5280 §4.2.1.1): two issuing-CA generations may one day
    share a name, never a key."""
    if certificate.issuer != issuer.subject:
        return False
    try:
        aki = certificate.extensions.get_extension_for_class(
            x509.AuthorityKeyIdentifier).value.key_identifier
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return True
    return aki == ski


class SignerSource(Protocol):
    """What signing responses needs: the CA certificates, the keys, the time. The core passes
    its ``CaContext`` (the refresh job signs the root's responses too); the OCSP front gets a
    ``ca.services.ResponderKeys``, which holds the responder's key only."""

    def certificate_of(self, profile: str) -> x509.Certificate: ...

    def ca_certificate(self, name: str) -> x509.Certificate: ...

    def ca_certificates(self) -> dict[str, x509.Certificate]: ...

    def key_pair(self, role: str) -> KeyPair: ...

    def now(self) -> dt.datetime: ...


class OcspSigner:
    """Signs responses for one home; keys are fetched from the HSM on first use only, so a
    responder answering from its cache never needs the HSM."""

    def __init__(self, source: SignerSource, root_validity: dt.timedelta | None = None):
        self.source = source
        # The root signs only at its ceremonies, for the interval until the next one
        # (policies/ceremonies.toml): the core passes that; the responder never signs as root.
        self.validity = {**VALIDITY, **({"root": root_validity} if root_validity else {})}
        self._encoders: dict[str, ResponseEncoder] = {}
        self._responders: dict[str, x509.Certificate] = {}  # what each encoder was built for
        self._hashes: dict[tuple[str, str], IssuerHashes] = {}
        self._issuers: tuple[dict, dict] | None = None  # (CA certificates, their hashes)
        self._delegated: tuple[x509.Certificate, x509.Certificate, bool] | None = None

    @property
    def issuers(self) -> dict[tuple[str, bytes, bytes], IssuerHashes]:
        """(hash algorithm, name hash, key hash) -> the CA it names; made again when an
        issuing-CA ceremony adds a CA (the source gives a new dict then)."""
        cas = self.source.ca_certificates()
        if self._issuers is None or self._issuers[0] is not cas:
            found = {}
            for ca, certificate in cas.items():
                for ih in issuer_hashes(ca, certificate):
                    found[(ih.algorithm, ih.name_hash, ih.key_hash)] = ih
            self._issuers = (cas, found)
        return self._issuers[1]

    def hashes_of(self, ca: str, algorithm: str) -> IssuerHashes:
        """One CA's CertID issuer part; needs that CA's certificate only (during ``regca
        init`` the root signs the issuing CA's responses before the issuing CA is stored)."""
        found = self._hashes.get((ca, algorithm))
        if found is None:
            for ih in issuer_hashes(ca, self.source.ca_certificate(ca)):
                self._hashes[(ca, ih.algorithm)] = ih
            found = self._hashes[(ca, algorithm)]
        return found

    def delegates(self, ca: str) -> bool:
        """Whether the delegated responder answers for ``ca``: its certificate was issued by
        that CA (RFC 6960 §4.2.2.2: a responder is authorised by the CA of the certificate in
        question). Otherwise the CA's own key signs, and only the core holds it."""
        if ca == "root":
            return False
        responder = self.source.certificate_of("ocsp-responder")
        issuer = self.source.ca_certificate(ca)
        known = self._delegated
        if known is None or known[0] is not responder or known[1] is not issuer:
            known = self._delegated = (responder, issuer, _issued_by(responder, issuer))
        return known[2]

    def presigned(self, ca: str) -> tuple[str, ...]:
        """The CertID hashes pre-signed for ``ca``'s certificates: those the front cannot sign
        on demand (the root's, a retired issuing CA's) for every hash (``PRESIGNED``)."""
        return PRESIGNED["issuing"] if self.delegates(ca) else tuple(HASHES)

    def validity_of(self, ca: str) -> dt.timedelta:
        return self.validity.get(ca, self.validity["issuing"])

    def encoder(self, ca: str) -> ResponseEncoder:
        enc = self._encoders.get(ca)
        if not self.delegates(ca):
            # The CA answers for its certificates itself, and sends its certificate along:
            # GnuTLS finds a signer only among the response's certificates and does not
            # search its trust list by a by-key ResponderID (RFC 6960 §4.2.1 allows it).
            cert, key = self.source.key_pair(ca)
            if enc is None or self._responders.get(ca) is not cert:
                enc = self._encoders[ca] = ResponseEncoder(key, cert, [cert])
                self._responders[ca] = cert
            return enc
        # RFC 6960 §4.2.2.2: a delegated responder with id-kp-OCSPSigning, sent along. Asked
        # for each response (a cheap call): after a rollover the responder's key changes
        # (ca/rolekeys.py), and the encoder with it.
        cert, key = self.source.key_pair("ocsp")
        if enc is None or self._responders.get(ca) is not cert:
            enc = self._encoders[ca] = ResponseEncoder(key, cert, [cert])
            self._responders[ca] = cert
        return enc

    def window(self, ca: str) -> tuple[dt.datetime, dt.datetime]:
        this_update = self.source.now().replace(microsecond=0)
        return this_update, this_update + self.validity_of(ca)

    def sign(self, ih: IssuerHashes, status: CertStatus, nonce: bytes | None = None,
             ) -> tuple[bytes, dt.datetime, dt.datetime]:
        """One SingleResponse, signed: ``(der, thisUpdate, nextUpdate)``."""
        enc = self.encoder(ih.ca)
        this_update, next_update = self.window(ih.ca)
        cert_id = enc.cert_id(ih.algorithm, ih.name_hash, ih.key_hash, status.serial)
        der = enc.response([enc.single(cert_id, status, this_update, next_update)],
                           this_update, nonce)
        return der, this_update, next_update

    def sign_many(self, ca: str, items: list[tuple[a_ocsp.CertId, CertStatus]],
                  nonce: bytes | None = None) -> bytes:
        """Several SingleResponses in one response (RFC 6960 §4.2.1), each CertID echoed as
        the request encoded it."""
        enc = self.encoder(ca)
        this_update, next_update = self.window(ca)
        return enc.response([enc.single(cert_id.dump(), status, this_update, next_update)
                             for cert_id, status in items], this_update, nonce)
