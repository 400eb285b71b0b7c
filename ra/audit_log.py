"""The audit log as auditors read it: filtered, exported (itself an audited act), checked.

Reads and the export's own audit event live here, so the auditor's pages only parse the
filters and render.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from dataclasses import dataclass

from ca.audit import ChainProblem, Event
from ca.errors import NotFound
from ca.identity import validate_pesel
from ca.personal_data import PersonRefs
from ca.store import audit as audit_store
from ca.store import enrolments as store
from ca.store.models import Enrolment
from ca.tree_head import SignedTreeHead
from ra.access import SEE, Caller, find_certificate
from ra.authority import Reader, RegistrationAuthority
from ra.certificates import CertificateView, view_of

__all__ = ["AuditQuery", "Entry", "CertificateHistory", "search", "check_chain", "export_csv",
           "certificate_history", "latest_tree_head"]

_CSV_COLUMNS = ("seq", "at", "actor", "action", "object", "outcome", "organization_teryt",
                "details", "hash")


@dataclass(frozen=True)
class AuditQuery:
    """The auditor's filters; a bare officer name means ``user:<name>``. ``until`` is the
    last day included."""

    teryt: str | None = None
    officer: str | None = None
    action: str | None = None
    profile: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    pesel: str | None = None  # given by the RA: found through its keyed reference


@dataclass(frozen=True)
class Entry:
    """One audit row as pages show it; ``details`` is the stored JSON text the hash covers."""

    seq: int
    at: dt.datetime
    actor: str
    action: str
    object: str
    outcome: str
    organization_teryt: str | None
    details: str
    hash: str


@dataclass(frozen=True)
class CertificateHistory:
    certificate: CertificateView
    events: list[Entry]
    enrolment: Enrolment | None


def _entry(row, people: PersonRefs) -> Entry:
    """No PESEL in clear, also from rows written before events kept them out."""
    return Entry(row.seq, row.at, row.actor, row.action, row.object, row.outcome,
                 row.organization_teryt, people.text(row.details), row.hash)


def _day(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(), dt.timezone.utc)


def search(ra: Reader, q: AuditQuery) -> list[Entry]:
    """The events matching ``q``, newest first; the profile filter goes through the
    certificates of that profile."""
    officer = (q.officer or "").strip()
    people = ra.people
    person = None
    if (q.pesel or "").strip():
        pesel = validate_pesel(q.pesel.strip())
        person = [people.ref(pesel), f"PNOPL-{pesel}"]  # the second: rows of older releases
    with ra.reading() as s:
        serials = store.serials_of_profile(s, q.profile) if q.profile else None
        rows = store.search_events(
            s, teryt=(q.teryt or "").strip() or None,
            actor=(f"user:{officer}" if officer and ":" not in officer else officer) or None,
            action=(q.action or "").strip() or None,
            since=_day(q.since) if q.since else None,
            until=_day(q.until) + dt.timedelta(days=1) if q.until else None, serials=serials,
            details_any=person)
        return [_entry(r, people) for r in rows]


def check_chain(ra: Reader) -> tuple[int, list[ChainProblem]]:
    """How many rows the hash chain holds and what is wrong with it (``ca.store.audit``)."""
    with ra.reading() as s:
        return audit_store.verify_chain(s)


def latest_tree_head(ra: Reader) -> SignedTreeHead | None:
    """The transparency log's latest signed tree head, for the auditor to see and keep (what
    ``regca audit verify --sth`` later checks the log against); None before the first."""
    try:
        return ra.log().latest()
    except NotFound:
        return None


def export_csv(ra: RegistrationAuthority, actor: str, q: AuditQuery,
               filters: dict[str, str]) -> str:
    """The matching events as CSV; the export is recorded with the filters it used."""
    entries = search(ra, q)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(_CSV_COLUMNS)
    for e in entries:
        w.writerow([e.seq, e.at.isoformat(), e.actor, e.action, e.object, e.outcome,
                    e.organization_teryt or "", e.details, e.hash])
    with ra.db.transaction() as s:
        ra.audit(s, Event(actor=actor, action="audit.export", object="audit:csv",
                           details={"rows": len(entries), "filters": filters}))
    return out.getvalue()


def certificate_history(ra: Reader, caller: Caller, serial: str) -> CertificateHistory:
    """A certificate, every event about it and the enrolment it was issued for."""
    found = find_certificate(ra, caller, serial, SEE)
    people = ra.people
    with ra.reading() as s:
        events = [_entry(r, people) for r in store.search_events(s, serials=[found.row.serial])]
        e = store.get(s, found.enrolment_id) if found.enrolment_id else None
    view = view_of(found.row, ra.now(), found.enrolment_id)
    return CertificateHistory(dataclasses.replace(view, subject=people.text(view.subject)),
                              events, e)
