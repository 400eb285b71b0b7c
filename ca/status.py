"""A certificate's status as people and RA clients are told it: good, revoked or expired.

The one place that decides it, for the RA API (CONTRACT.md, "RA requests": ``"good" |
"revoked" | "expired"``) and for every page of the enrollment web. OCSP answers a different
question (RFC 6960 §2.2: good / revoked / unknown for a CertID of one issuer, expiry aside), so
``ca.ocsp_signer.status_of`` keeps its own rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

__all__ = ["STATES", "CertificateStatus", "certificate_status", "time_left"]

STATES = ("good", "revoked", "expired", "pending")


class _Row(Protocol):
    status: str
    revocation_reason: str | None
    not_after: dt.datetime


@dataclass(frozen=True)
class CertificateStatus:
    """``state`` is one of STATES; ``reason`` is the RFC 5280 reason name of a revoked
    certificate (None for an abandoned issuance, which is revoked without one)."""

    state: str
    reason: str | None = None

    @property
    def revocable(self) -> bool:
        """Issued and not revoked, expired or not: a revocation request may be made."""
        return self.state in ("good", "expired")

    @property
    def good(self) -> bool:
        return self.state == "good"

    @property
    def expired(self) -> bool:
        return self.state == "expired"

    @property
    def on_hold(self) -> bool:
        return self.state == "revoked" and self.reason == "certificateHold"


def certificate_status(row: _Row, now: dt.datetime) -> CertificateStatus:
    """The status of a certificate row at ``now``.

    Revocation wins over expiry: a revoked certificate stays revoked after its notAfter. An
    abandoned issuance (signed, never delivered: ``Issuer.reconcile``) counts as revoked, as
    the CRL lists it. RFC 5280 §4.1.2.5: the validity period includes notAfter, so a
    certificate expires only after it. A pending row was never issued; the RA API and the
    pages show it to no one but auditors.
    """
    if row.status == "pending":
        return CertificateStatus("pending")
    if row.status in ("revoked", "abandoned"):
        return CertificateStatus("revoked", row.revocation_reason)
    if now > row.not_after:
        return CertificateStatus("expired")
    return CertificateStatus("good")


class _Ends(Protocol):
    not_after: dt.datetime


def time_left(row: _Ends, now: dt.datetime) -> dt.timedelta:
    """How long the certificate of ``row`` is still valid at ``now`` (negative once expired):
    what expiry notices count down, read where validity ends are read."""
    return row.not_after - now
