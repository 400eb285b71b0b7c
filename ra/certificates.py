"""Certificates as the registration authority hands them to its fronts: found for a caller
(``ra.access``), with their status (``ca.status``), revoked, downloaded, listed.

Each function opens its own transaction and writes its own audit event; the fronts parse,
call and render, and receive ``CertificateView`` objects, never store rows.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from ca.audit import Event
from ca.errors import Malformed, NotFound
from ca.issuance import IssuanceRequest, IssuedCertificate
from ca.revocation import RevocationRequest
from ca.status import CertificateStatus, certificate_status
from ca.store import certificates as cert_store
from ca.store import enrolments as enrol_store
from ca.store.models import Certificate
from ca.transparency import InclusionProof
from ra.access import REVOKE, SEE, Caller, Found, check_certificate, find_certificate
from ra.authority import Reader, RegistrationAuthority
from ra.enrolment import HOLDER_REASONS, check_revocation_password, mark_delivered, visible
from ra.paging import PAGE_SIZE, Page
from ra.token_registry import visible_token

__all__ = ["CertificateView", "Download", "FORMATS", "view_of", "show", "revoke", "download",
           "proof", "revoke_found",
           "of_enrolment", "of_token", "listed"]

# The resident's download formats: media type and file extension.
FORMATS = {"pem": ("application/x-pem-file", "crt"), "der": ("application/pkix-cert", "cer"),
           "p7b": ("application/pkcs7-mime", "p7b"),
           # the transparency log's inclusion proof (CONTRACT.md's JSON shape)
           "proof": ("application/json", "proof.json")}
# The formats that hand the resident their certificate (and so use up the pickup code).
_DELIVERING = frozenset({"pem", "der", "p7b"})


@dataclass(frozen=True)
class CertificateView:
    """A certificate as pages and the RA API show it."""

    serial: str
    issuer: str
    profile: str
    subject: str
    organization_teryt: str | None
    requested_by: str
    not_before: dt.datetime
    not_after: dt.datetime
    status: CertificateStatus
    der: bytes | None
    enrolment_id: int | None = None

    @property
    def revocable(self) -> bool:
        """The forms offer revocation only then."""
        return self.status.revocable

    def pem(self) -> str:
        return x509.load_der_x509_certificate(self.der).public_bytes(Encoding.PEM).decode()


@dataclass(frozen=True)
class Download:
    body: bytes
    media_type: str
    filename: str


def view_of(ra: Reader, row: Certificate, now: dt.datetime, enrolment_id: int | None = None
            ) -> CertificateView:
    """The row as fronts see it: its DER opened (``cert_store.der_of``), its subject as
    stored (a PESEL masked)."""
    return CertificateView(row.serial, row.issuer, row.profile, row.subject,
                           row.organization_teryt, row.requested_by, row.not_before,
                           row.not_after, certificate_status(row, now),
                           cert_store.der_of(ra.fields, row.serial, row.der), enrolment_id)


def issue(ra: RegistrationAuthority, request: IssuanceRequest) -> IssuedCertificate:
    """Ask the CA to issue; every check of the request is the CA's (``Issuer.prepare``)."""
    return ra.ca.issue(request)


def show(ra: Reader, caller: Caller, serial: str) -> CertificateView:
    found = find_certificate(ra, caller, serial, SEE)
    return view_of(ra, found.row, ra.now(), found.enrolment_id)


def revoke(ra: RegistrationAuthority, caller: Caller, serial: str, reason: str,
           password: str | None = None, source: str = "unknown") -> CertificateView:
    """Revoke for ``caller``. A resident proves the request with the revocation password set
    at enrolment (guesses back off per ``source``, ``ra.backoff``), and gives one of the
    holder's reasons (``HOLDER_REASONS``)."""
    found = find_certificate(ra, caller, serial, REVOKE)
    if caller.enrolment is not None:
        if reason not in HOLDER_REASONS:
            raise Malformed(f"reason: a holder revokes for one of {', '.join(HOLDER_REASONS)}")
        check_revocation_password(ra, caller.enrolment, found.row.serial, password, source)
    return revoke_found(ra, caller, found, reason)


def revoke_found(ra: RegistrationAuthority, caller: Caller, found: Found,
                 reason: str) -> CertificateView:
    """Revoke a certificate ``caller`` was already found to hold the right to revoke (a
    holder's password checked, ``ra.holder``)."""
    row = ra.ca.revoke(RevocationRequest(found.row.serial, reason, caller.actor))
    return view_of(ra, row, ra.now(), found.enrolment_id)


def download(ra: RegistrationAuthority, caller: Caller, serial: str, fmt: str) -> Download:
    """The certificate as PEM, DER or a PKCS#7 bundle with its chain; each download is
    audited."""
    if fmt not in FORMATS:
        raise NotFound(f"no download format {fmt!r}")
    found = find_certificate(ra, caller, serial, SEE)
    row = found.row
    der = cert_store.der_of(ra.fields, row.serial, row.der)
    if der is None:
        raise NotFound(f"no certificate with serial {row.serial}")
    cert = x509.load_der_x509_certificate(der)
    if fmt == "proof":
        body = json.dumps(ra.log().inclusion(row.serial).to_json(), indent=1).encode()
    elif fmt == "pem":
        body = cert.public_bytes(Encoding.PEM)
    elif fmt == "der":
        body = der
    else:  # RFC 2315 degenerate SignedData: the certificate and its chain, no signers
        body = pkcs7.serialize_certificates([cert, *ra.chain()], Encoding.DER)
    with ra.db.transaction() as s:
        ra.audit(s, Event(actor=caller.actor, action="certificate.download",
                           object=f"certificate:{row.serial}",
                           organization_teryt=row.organization_teryt, details={"format": fmt}))
        if caller.enrolment is not None and fmt in _DELIVERING:
            mark_delivered(ra, s, caller.enrolment)
    media_type, ext = FORMATS[fmt]
    return Download(body, media_type, f"{row.serial}.{ext}")


def proof(ra: Reader, caller: Caller, serial: str) -> InclusionProof:
    """The transparency log's proof that the latest signed tree head covers this certificate's
    issuance, for whoever may see the certificate (NotFound until a head covers it)."""
    found = find_certificate(ra, caller, serial, SEE)
    return ra.log().inclusion(found.row.serial)


def of_enrolment(ra: Reader, caller: Caller, enrolment_id: int,
                 issued_only: bool = False) -> list[CertificateView]:
    """The certificates issued for an enrolment the caller may see (``ra.enrolment.visible``
    decides; a resident sees their own enrolment only)."""
    if caller.enrolment is not None and caller.enrolment != enrolment_id:
        raise NotFound(f"no enrolment {enrolment_id}")
    visible(ra, enrolment_id, caller.orgs)
    now = ra.now()
    with ra.reading() as s:
        rows = enrol_store.certificates_of(s, enrolment_id)
    return [view_of(ra, r, now, enrolment_id) for r in rows
            if not issued_only or r.der is not None]


def of_token(ra: Reader, caller: Caller, token_id: int) -> list[CertificateView]:
    """The certificates on a registry token the caller may see."""
    visible_token(ra, token_id, caller.orgs)
    now = ra.now()
    with ra.reading() as s:
        rows = enrol_store.token_certificates(s, token_id)
    return [view_of(ra, r, now) for r in rows]


def listed(ra: Reader, caller: Caller, page: int = 1, size: int = PAGE_SIZE
           ) -> Page[CertificateView]:
    """One page of the certificates ``caller`` may see, newest first, with the total. The
    query narrows as ``ra.access`` does; each row still passes its check, so a list can
    never show what a certificate's own page would refuse."""
    if caller.enrolment is not None:
        raise NotFound("a resident's certificates are listed on their own page")
    now = ra.now()
    with ra.reading() as s:
        rows, total = enrol_store.certificate_page(
            s, teryts=list(caller.orgs) if caller.orgs is not None else None,
            desk_only=caller.desk_only, with_pending=caller.sees_pending,
            offset=(page - 1) * size, limit=size)
    views = [view_of(ra, check_certificate(caller, Found(row, eid), row.serial, SEE).row, now,
                     eid)
             for row, eid in rows]
    return Page(views, total, page, size)
