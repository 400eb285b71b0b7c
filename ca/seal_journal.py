"""Every call of the signing API, audited in one place: who sealed what, with which seal.

Non-repudiation is why an EOD calls the signing API, so each call - sealed, refused or failed -
becomes one audit event written here and nowhere else: the API key's id and name, its JST, the
document's SHA-256 (or the digest sent), format and level, the seal certificate's serial, the
time-stamp tokens' serials, and how it ended. The per-JST counts (quotas, the usage report) are
read back from these events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ca.audit import Event
from ca.clock import Clock
from ca.errors import (
    Conflict,
    Forbidden,
    Malformed,
    NotFound,
    PayloadTooLarge,
    RegCAError,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from ca.store import audit as audit_store
from ca.store.db import Database

__all__ = ["FORMATS", "SEAL_ACTIONS", "VERIFY_ACTION", "SealAttempt", "SealJournal",
           "outcome_of"]

# What the API seals: a PDF, an XML e-form, bytes as a detached CMS, or a bare SHA-256 (the
# ``sign-digest`` scope); each its own audit action.
FORMATS = ("pdf", "xml", "cms", "digest")
SEAL_ACTIONS = tuple(f"sign.{f}" for f in FORMATS)
VERIFY_ACTION = "verify"
# The caller's mistakes are refusals; anything else that stops a seal is the service's failure.
_CALLERS_MISTAKES = (Malformed, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
                     Unprocessable, TooManyRequests)


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "success"
    return "refused" if isinstance(error, _CALLERS_MISTAKES) else "failed"


@dataclass(frozen=True)
class SealAttempt:
    """One call of ``/api/v1/sign/*`` by an authenticated key, as far as it got."""

    key_id: str
    key_name: str
    organization_teryt: str | None
    format: str
    level: str | None = None
    document_sha256: str | None = None  # hex; the digest itself for format "digest"
    seal_serial: str | None = None  # hex serial of the seal certificate used
    seal_fallback: bool = False  # the region's seal stood in for the JST's own
    timestamp_serials: tuple[int, ...] = ()
    options: dict = field(default_factory=dict)  # packaging, reference URI...
    error: RegCAError | None = None

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"format: {self.format!r} is not one of {', '.join(FORMATS)}")

    @property
    def outcome(self) -> str:
        return outcome_of(self.error)

    def event(self) -> Event:
        details = {"key_id": self.key_id, "key_name": self.key_name, "format": self.format,
                   "level": self.level, "document_sha256": self.document_sha256,
                   "seal_serial": self.seal_serial, "seal_fallback": self.seal_fallback,
                   "timestamp_serials": list(self.timestamp_serials), **self.options}
        if self.error is not None:
            details["error"] = {"code": self.error.code, "message": self.error.message}
        return Event(actor=f"apikey:{self.key_id}", action=f"sign.{self.format}",
                     object=(f"sha256:{self.document_sha256}" if self.document_sha256
                             else "sha256:-"),
                     outcome=self.outcome, details=details,
                     organization_teryt=self.organization_teryt)


class SealJournal:
    """The signing front's one way to the audit log: it records attempts, nothing else."""

    def __init__(self, db: Database, clock: Clock):
        self._db, self._clock = db, clock

    def record(self, attempt: SealAttempt) -> int:
        """Append the attempt's event (its own transaction); returns its sequence number."""
        return self._append(attempt.event())

    def record_verification(self, key_id: str, key_name: str, teryt: str | None,
                            document_sha256: str, indication: str) -> int:
        """A validation report given to a key (the usage report counts them per JST)."""
        return self._append(Event(actor=f"apikey:{key_id}", action=VERIFY_ACTION,
                                  object=f"sha256:{document_sha256}",
                                  details={"key_id": key_id, "key_name": key_name,
                                           "indication": indication},
                                  organization_teryt=teryt))

    def _append(self, event: Event) -> int:
        with self._db.transaction() as s:
            return audit_store.append(s, event, self._clock.now())
