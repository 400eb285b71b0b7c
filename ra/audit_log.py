"""The audit log as auditors read it: filtered, exported (itself an audited act), checked.

Reads and the export's own audit event live here, so the auditor's pages only parse the
filters and render.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from dataclasses import dataclass

from ca.audit import ChainProblem, Event
from ca.errors import NotFound
from ca.identity import validate_pesel
from ca.months import WARSAW
from ca.personal_data import PersonRefs, masked_subject
from ca.store import audit as audit_store
from ca.store import enrolments as store
from ca.store.models import Enrolment
from ca.tree_head import SignedTreeHead
from ra.access import SEE, Caller, find_certificate
from ra.authority import Reader, RegistrationAuthority
from ra.certificates import CertificateView, view_of
from ra.paging import PAGE_SIZE, Page

__all__ = ["AuditQuery", "Entry", "CertificateHistory", "search", "check_chain", "export_csv",
           "export_json", "certificate_history", "latest_tree_head"]

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
    """The start of a day in Poland (the auditor picks Polish days), as UTC."""
    return dt.datetime.combine(d, dt.time(), WARSAW).astimezone(dt.timezone.utc)


def _filters(ra: Reader, s, q: AuditQuery) -> dict:
    """``q`` as the store's filters; the profile filter goes through the certificates of that
    profile, the PESEL through its keyed reference."""
    officer = (q.officer or "").strip()
    person = None
    if (q.pesel or "").strip():
        pesel = validate_pesel(q.pesel.strip())
        person = [ra.people.ref(pesel), f"PNOPL-{pesel}"]  # the second: rows of older releases
    return dict(
        teryt=(q.teryt or "").strip() or None,
        actor=(f"user:{officer}" if officer and ":" not in officer else officer) or None,
        action=(q.action or "").strip() or None,
        since=_day(q.since) if q.since else None,
        until=_day(q.until + dt.timedelta(days=1)) if q.until else None,
        serials=store.serials_of_profile(s, q.profile) if q.profile else None,
        details_any=person)


def search(ra: Reader, q: AuditQuery, page: int = 1, size: int = PAGE_SIZE) -> Page[Entry]:
    """One page of the events matching ``q``, newest first, with how many match in all."""
    with ra.reading() as s:
        filters = _filters(ra, s, q)
        total = store.count_events(s, **filters)
        rows = store.search_events(s, offset=(page - 1) * size, limit=size, **filters)
        return Page([_entry(r, ra.people) for r in rows], total, page, size)


def _everything(ra: Reader, q: AuditQuery) -> list[Entry]:
    """Every matching event: an export is never cut."""
    with ra.reading() as s:
        rows = store.search_events(s, **_filters(ra, s, q))
        return [_entry(r, ra.people) for r in rows]


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


def _record_export(ra: RegistrationAuthority, actor: str, kind: str, rows: int,
                   filters: dict[str, str]) -> None:
    with ra.db.transaction() as s:
        ra.audit(s, Event(actor=actor, action="audit.export", object=f"audit:{kind}",
                           details={"rows": rows, "filters": filters}))


def export_csv(ra: RegistrationAuthority, actor: str, q: AuditQuery,
               filters: dict[str, str]) -> bytes:
    """Every matching event as CSV the way Polish Excel opens it: UTF-8 with a byte-order
    mark, ``;`` between fields (the decimal comma takes ``,``), times in Polish local time
    with their offset. The export is recorded with the filters it used."""
    entries = _everything(ra, q)
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(_CSV_COLUMNS)
    for e in entries:
        w.writerow([e.seq, e.at.astimezone(WARSAW).isoformat(), e.actor, e.action, e.object,
                    e.outcome, e.organization_teryt or "", e.details, e.hash])
    _record_export(ra, actor, "csv", len(entries), filters)
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def export_json(ra: RegistrationAuthority, actor: str, q: AuditQuery,
                filters: dict[str, str]) -> bytes:
    """Every matching event as a JSON array (``details`` parsed), times in Polish local time
    with their offset; recorded like the CSV."""
    entries = _everything(ra, q)
    body = [{"seq": e.seq, "at": e.at.astimezone(WARSAW).isoformat(), "actor": e.actor,
             "action": e.action, "object": e.object, "outcome": e.outcome,
             "organization_teryt": e.organization_teryt, "details": json.loads(e.details),
             "hash": e.hash} for e in entries]
    _record_export(ra, actor, "json", len(entries), filters)
    return json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")


def certificate_history(ra: Reader, caller: Caller, serial: str) -> CertificateHistory:
    """A certificate, every event about it and the enrolment it was issued for."""
    found = find_certificate(ra, caller, serial, SEE)
    people = ra.people
    with ra.reading() as s:
        events = [_entry(r, people) for r in store.search_events(s, serials=[found.row.serial])]
        e = store.get(s, found.enrolment_id) if found.enrolment_id else None
    view = view_of(ra, found.row, ra.now(), found.enrolment_id)
    return CertificateHistory(dataclasses.replace(view, subject=masked_subject(view.subject)),
                              events, e)
