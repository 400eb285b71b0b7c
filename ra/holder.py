"""What a resident can do without an officer, at any hour: come back to their certificates with
the pickup code and the revocation password, and revoke a certificate from its serial and the
revocation password (the public "revoke my certificate" page).

Why these two secrets: the pickup code alone is a bearer secret handed over on paper, so it
expires and stops opening anything once it has delivered a certificate; the revocation password
is the resident's own and was never written down by the office. Together they are a resident's
log-in for as long as the enrolment lasts, with no e-mail to depend on (not every resident has
one, and an e-mailed link would reach whoever reads the mailbox). Revoking needs only the
password and the serial, which is printed in the certificate and published in every CRL.

Both are guessable, so both go through ``ra.backoff`` (per source, and per code or serial from
that source), refused before any hash is computed; and both answer an unknown code or serial
exactly as a wrong password, after the same argon2 work, so nobody learns which serials belong
to residents or which codes exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from ca.audit import Event
from ca.errors import Malformed, Unauthorized
from ca.serials import parse_serial
from ca.store import certificates as cert_store
from ca.store import enrolments as store
from ra.access import REVOKE, Caller, find_certificate
from ra.authority import RegistrationAuthority
from ra.backoff import scopes
from ra.certificates import CertificateView, revoke_found, view_of
from ra.enrolment import HOLDER_REASONS, _code_digest
from ra.users import password_matches

__all__ = ["HolderCertificate", "come_back", "check_holder", "revoke_as_holder",
           "NOT_RECOGNISED"]

NOT_RECOGNISED = "the code or serial and the revocation password do not match"


def _settle(ra: RegistrationAuthority, found, now, right: bool, e, *, action: str,
            object_: str, details: dict, audit_success: bool) -> None:
    """Record a checked secret's outcome: the back-off cleared or grown, and the audit event
    (a failure always, a success where ``audit_success``); Unauthorized, in the same words
    whatever was wrong, when it did not match."""
    with ra.db.transaction() as s:
        if right:
            ra.backoff.succeed(s, found)
        else:
            ra.backoff.fail(s, now, found)
        if audit_success or not right:
            ra.audit(s, Event(actor=f"resident:enrolment:{e.id}" if e else "resident",
                               action=action, object=object_,
                               outcome="success" if right else "failure",
                               organization_teryt=e.organization_teryt if e else None,
                               details=details if right else
                               {"reason": "not recognised", **details}))
    if not right:
        raise Unauthorized(NOT_RECOGNISED)


def come_back(ra: RegistrationAuthority, code: str, password: str, source: str) -> int:
    """The enrolment whose pickup code and revocation password these are (its id), whether or
    not the code has delivered a certificate or passed its validity; Unauthorized otherwise,
    the same for an unknown code as for a wrong password."""
    digest = _code_digest(code or "")
    found = scopes("return", source, f"code:{digest}")
    now = ra.now()
    with ra.reading() as s:
        ra.backoff.check(s, now, found)
        e = store.by_pickup_hash(s, digest)
        e = e if e is not None and e.revocation_password_hash else None
    right = password_matches(e.revocation_password_hash if e else None, password)
    _settle(ra, found, now, right, e, action="resident.return",
            object_=f"enrolment:{e.id}" if e else "enrolment:?", details={}, audit_success=True)
    return e.id


@dataclass(frozen=True)
class HolderCertificate:
    """A certificate its holder proved theirs: what the confirmation page names."""

    enrolment_id: int
    certificate: CertificateView


def check_holder(ra: RegistrationAuthority, serial: str, password: str,
                 source: str) -> HolderCertificate:
    """The resident's certificate ``serial`` if ``password`` is its enrolment's revocation
    password; Unauthorized, with the same words and after the same work, for a serial that is
    unknown, pending, not a resident's, or a wrong password. ``serial`` must parse
    (``ca.serials.parse_serial``, ValueError otherwise): its shape is no secret."""
    serial = parse_serial(serial)
    found = scopes("revocation", source, f"certificate:{serial}")
    now = ra.now()
    with ra.reading() as s:
        ra.backoff.check(s, now, found)
        row = cert_store.get(s, serial)
        e = store.enrolment_of_certificate(s, serial) if row is not None else None
    if row is None or row.status == "pending" or e is None or e.kind != "resident":
        row, e = None, None
    right = password_matches(e.revocation_password_hash if e else None, password)
    _settle(ra, found, now, right, e, action="certificate.revoke",
            object_=f"certificate:{serial}", details={"page": "public"}, audit_success=False)
    return HolderCertificate(e.id, view_of(ra, row, now, e.id))


def revoke_as_holder(ra: RegistrationAuthority, enrolment_id: int, serial: str,
                     reason: str) -> CertificateView:
    """Revoke, once ``check_holder`` proved the holder, for one of ``HOLDER_REASONS``; the
    revocation is audited by the CA under the resident's name."""
    if reason not in HOLDER_REASONS:
        raise Malformed(f"reason: a holder revokes for one of {', '.join(HOLDER_REASONS)}")
    caller = Caller.resident(enrolment_id)
    return revoke_found(ra, caller, find_certificate(ra, caller, serial, REVOKE), reason)
