"""Who may see or revoke which certificate: the one ownership check of every front.

The RA API, the officers' and auditors' pages and the resident's page all find a certificate
for a caller here; nothing else compares a certificate's JST with a caller's (a test pins it).

Refusals. A caller without the right at all (a key without the scope, an auditor asking to
revoke) gets Forbidden before the store is asked, so it learns nothing about the serial. A
resident gets NotFound for anything but their own certificates: their session covers one
enrolment and the page promises never to confirm what lies beyond it. Staff and API keys are
known to the home and bound to JST; a certificate of another JST is Forbidden to them, as
CONTRACT.md's RA API and the officers' pages have always answered: a serial is no secret
there (the CRLs and the issuance log publish every one), the JST boundary is the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ca.errors import Forbidden, Malformed, NotFound
from ca.serials import parse_serial
from ca.store import certificates as cert_store
from ca.store import enrolments as enrol_store
from ca.store.models import Certificate
from ra.apikeys import Principal
from ra.authority import Reader

__all__ = ["SEE", "REVOKE", "Caller", "Found", "in_scope", "check_certificate",
           "find_certificate"]

SEE, REVOKE = "see", "revoke"
_READ_SCOPES = frozenset({"issue", "revoke", "verify"})


@dataclass(frozen=True)
class Caller:
    """Who asks, as far as certificates go.

    ``orgs``: the JST scope (None: every JST). ``desk_only``: only certificates recorded at
    the desk for an enrolment (officers). ``enrolment``: a resident, who reaches only that
    enrolment's certificates. ``sees_pending``: rows not yet issued are shown (auditors, who
    review interrupted issuances); to everyone else they do not exist.
    """

    actor: str
    may: frozenset[str]
    orgs: tuple[str, ...] | None = None
    desk_only: bool = False
    enrolment: int | None = None
    sees_pending: bool = False

    @classmethod
    def api_key(cls, key: Principal) -> Caller:
        """An RA API key: any of issue/revoke/verify reads, revoke revokes; a key bound to a
        JST reaches that JST's certificates and its subordinate units' only, as its officers'
        sessions do; a unit's key, the unit's only."""
        may = {SEE} if key.scopes & _READ_SCOPES else set()
        if "revoke" in key.scopes:
            may.add(REVOKE)
        teryt = key.organization_teryt
        return cls(key.actor, frozenset(may), (teryt, *key.units) if teryt else None)

    @classmethod
    def officer(cls, username: str, orgs: tuple[str, ...]) -> Caller:
        return cls(f"user:{username}", frozenset({SEE, REVOKE}), tuple(orgs), desk_only=True)

    @classmethod
    def auditor(cls, username: str) -> Caller:
        return cls(f"user:{username}", frozenset({SEE}), None, sees_pending=True)

    @classmethod
    def resident(cls, enrolment_id: int) -> Caller:
        """A resident's own certificates; revoking them also takes the revocation password
        (``ra.enrolment.resident_revoke``)."""
        return cls(f"resident:enrolment:{enrolment_id}", frozenset({SEE, REVOKE}),
                   enrolment=enrolment_id)


class Found(NamedTuple):
    """A certificate a caller may act on, and the enrolment it was issued for, if any."""

    row: Certificate
    enrolment_id: int | None


def in_scope(orgs: tuple[str, ...] | None, teryt: str | None) -> None:
    """The JST rule itself: a caller scoped to ``orgs`` acts only on objects of those JST
    (enrolments, tokens and, through ``check_certificate``, certificates)."""
    if orgs is not None and teryt not in orgs:
        raise Forbidden(f"JST {teryt} is outside your registration area")


def check_certificate(caller: Caller, found: Found | None, serial: str, action: str) -> Found:
    """The decision, on what the store holds for ``serial`` (None: nothing)."""
    _may(caller, action)
    # A resident hears the same words whether the serial is absent or someone else's.
    missing = NotFound("no such certificate among yours" if caller.enrolment is not None
                       else f"no certificate with serial {serial}")
    if found is None or (found.row.status == "pending" and not caller.sees_pending):
        raise missing
    if caller.enrolment is not None and found.enrolment_id != caller.enrolment:
        raise missing
    if caller.desk_only and found.enrolment_id is None:
        raise missing
    in_scope(caller.orgs, found.row.organization_teryt)
    return found


def _may(caller: Caller, action: str) -> None:
    if action not in (SEE, REVOKE):
        raise ValueError(f"unknown action {action!r}")
    if action not in caller.may:
        raise Forbidden(f"{caller.actor} may not {action} certificates")


def find_certificate(ra: Reader, caller: Caller, serial: str, action: str = SEE) -> Found:
    """The certificate ``serial`` if ``caller`` may ``action`` it; Forbidden, NotFound or
    (a serial that is not hex) Malformed otherwise."""
    _may(caller, action)
    try:
        serial = parse_serial(serial)
    except ValueError as exc:
        raise Malformed(str(exc)) from None
    with ra.reading() as s:
        row = cert_store.get(s, serial)
        enrolment = enrol_store.enrolment_of_certificate(s, serial) if row else None
    found = Found(row, enrolment.id if enrolment else None) if row else None
    return check_certificate(caller, found, serial, action)
