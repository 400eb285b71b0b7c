"""Revocation (RFC 5280 §5.3.1 reasons), including certificateHold and its release."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from cryptography import x509

from ca.audit import Event
from ca.context import CaContext
from ca.crl import publish_after_revocation
from ca.errors import AlreadyRevoked, Conflict, Malformed, NotFound
from ca.ocsp_cache import ResponseCache
from ca.serials import parse_serial
from ca.store import certificates as cert_store
from ca.store.certificates import Revocation
from ca.store.models import Certificate

__all__ = ["REASONS", "RevocationRequest", "Revoker", "parse_reason"]

REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "removeFromCRL": x509.ReasonFlags.remove_from_crl,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
}


def parse_reason(name: str) -> str:
    if name not in REASONS:
        raise Malformed(f"unknown revocation reason {name!r} (one of: {', '.join(REASONS)})")
    return name


@dataclass(frozen=True)
class RevocationRequest:
    serial: str
    reason: str
    actor: str
    invalidity_date: dt.datetime | None = None


class _Decision(NamedTuple):
    """The state a row moves to, and the audit action naming the move."""

    action: str
    status: str
    revoked_at: dt.datetime | None
    reason: str | None
    invalidity_date: dt.datetime | None


class Revoker:
    def __init__(self, ctx: CaContext):
        self.ctx = ctx

    def revoke(self, request: RevocationRequest) -> Certificate:
        """Revoke, put on hold, or release from hold (``removeFromCRL``); one transaction
        updates the row, the audit log, the changes the next delta CRL lists and the cached OCSP
        responses (DESIGN.md, "Issuance never loses a certificate"). Whether the requester may is
        decided before, by the registration authority (``ra.access``); the operator's command line
        may always."""
        reason = parse_reason(request.reason)
        try:
            serial = parse_serial(request.serial)
        except ValueError as exc:
            raise Malformed(str(exc)) from None
        ctx = self.ctx
        now = ctx.now()
        with ctx.db.transaction() as s:
            row = cert_store.get(s, serial, for_update=True)
            if row is None:
                raise NotFound(f"no certificate with serial {serial}")
            to = self._decide(row, reason, now, request.invalidity_date)
            cert_store.set_revocation(s, [Revocation(
                row, to.status, to.revoked_at, to.reason, to.invalidity_date,
                Event(actor=request.actor, action=to.action, object=f"certificate:{serial}",
                      organization_teryt=row.organization_teryt, details={"reason": reason}))],
                now)
            ResponseCache(ctx).replace_in(s, row)
        publish_after_revocation(ctx, row.issuer)
        return row

    @staticmethod
    def _decide(row: Certificate, reason: str, now: dt.datetime,
                invalidity_date: dt.datetime | None) -> _Decision:
        if row.status in ("pending", "abandoned"):
            raise Conflict(f"certificate {row.serial} was never issued ({row.status})")
        on_hold = row.status == "revoked" and row.revocation_reason == "certificateHold"
        if reason == "removeFromCRL":
            if not on_hold:
                raise Conflict(f"certificate {row.serial} is not on hold; only a held "
                               "certificate can be released (removeFromCRL)")
            return _Decision("certificate.release", "issued", None, None, None)
        if row.status == "revoked" and not on_hold:
            raise AlreadyRevoked(f"certificate {row.serial} is already revoked "
                                 f"({row.revocation_reason})")
        revoked_at = row.revoked_at if on_hold else now  # a hold made permanent keeps its date
        action = "certificate.hold" if reason == "certificateHold" else "certificate.revoke"
        return _Decision(action, "revoked", revoked_at, reason, invalidity_date)
