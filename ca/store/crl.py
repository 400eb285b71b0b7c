"""CRL bookkeeping: revoked entries, the ordered revocation changes deltas are made from, and
the per-CA CRL number (RFC 5280 §5.2.3: monotonically increasing, shared with deltas)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ca.store.models import Certificate, CrlState, PublishedCrlDocument, RevocationChange

__all__ = ["record_change", "revoked_entries", "changes_since", "last_change_seq", "peek", "state",
           "next_number", "save_published", "published_numbers", "published"]


def record_change(session: Session, row: Certificate, at: dt.datetime) -> None:
    """Note that ``row``'s revocation state changed (called in the revoking transaction)."""
    session.add(RevocationChange(serial=row.serial, issuer=row.issuer,
                                 released=row.status == "issued", changed_at=at))


def revoked_entries(session: Session, issuer: str) -> list[tuple]:
    """``(serial, revoked_at, reason, invalidity_date)`` of every certificate a complete CRL
    lists: revoked or on hold, and abandoned issuances (no reason code)."""
    q = (select(Certificate.serial, Certificate.revoked_at, Certificate.revocation_reason,
                Certificate.invalidity_date)
         .where(Certificate.issuer == issuer,
                Certificate.status.in_(("revoked", "abandoned"))))
    return list(session.execute(q))


def last_change_seq(session: Session, issuer: str) -> int:
    return session.execute(select(func.coalesce(func.max(RevocationChange.seq), 0))
                           .where(RevocationChange.issuer == issuer)).scalar_one()


def changes_since(session: Session, issuer: str, seq: int) -> tuple[int, list[tuple]]:
    """The newest change seq and, per certificate changed after ``seq``, its state now:
    ``(serial, status, revoked_at, reason, invalidity_date, changed_at)``."""
    newest = last_change_seq(session, issuer)
    changed = (select(RevocationChange.serial,
                      func.max(RevocationChange.changed_at).label("changed_at"))
               .where(RevocationChange.issuer == issuer, RevocationChange.seq > seq,
                      RevocationChange.seq <= newest)
               .group_by(RevocationChange.serial).subquery())
    q = (select(Certificate.serial, Certificate.status, Certificate.revoked_at,
                Certificate.revocation_reason, Certificate.invalidity_date, changed.c.changed_at)
         .join(changed, changed.c.serial == Certificate.serial))
    return newest, list(session.execute(q))


def peek(session: Session, ca: str) -> CrlState:
    """The CA's CRL state for a reader: the stored row, or a fresh one that is not added (a
    read transaction must not write: on SQLite it could not take the write lock)."""
    row = session.execute(select(CrlState).where(CrlState.ca == ca)).scalar_one_or_none()
    return row if row is not None else CrlState(ca=ca, number=0)


def state(session: Session, ca: str, for_update: bool = False) -> CrlState:
    """The CA's CRL state inside a write transaction, created on first use."""
    q = select(CrlState).where(CrlState.ca == ca)
    if for_update:
        q = q.with_for_update()
    row = session.execute(q).scalar_one_or_none()
    if row is None:
        row = CrlState(ca=ca, number=0)
        session.add(row)
        session.flush()
    return row


def next_number(session: Session, ca: str) -> int:
    """Allocate the next CRL number (committed before signing, so a crash leaves a gap, never a
    reused number)."""
    row = state(session, ca, for_update=True)
    row.number += 1
    return row.number


def save_published(session: Session, ca: str, delta: bool, number: int,
                   this_update: dt.datetime, der: bytes) -> bool:
    """Keep ``der`` as the CRL every node serves for ``(ca, delta)``, unless a higher number is
    already kept (two nodes publishing at once: the newer CRL wins whichever commits last)."""
    row = session.execute(select(PublishedCrlDocument)
                          .where(PublishedCrlDocument.ca == ca,
                                 PublishedCrlDocument.delta == delta)
                          .with_for_update()).scalar_one_or_none()
    if row is None:
        session.add(PublishedCrlDocument(ca=ca, delta=delta, number=number,
                                         this_update=this_update, der=der))
        return True
    if row.number >= number:
        return False
    session.execute(update(PublishedCrlDocument)
                    .where(PublishedCrlDocument.ca == ca, PublishedCrlDocument.delta == delta)
                    .values(number=number, this_update=this_update, der=der))
    return True


def published_numbers(session: Session) -> dict[tuple[str, bool], int]:
    """``(ca, delta) -> number`` of every CRL kept: one small read, no bytes."""
    q = select(PublishedCrlDocument.ca, PublishedCrlDocument.delta, PublishedCrlDocument.number)
    return {(ca, bool(delta)): number for ca, delta, number in session.execute(q)}


def published(session: Session, ca: str, delta: bool) -> tuple[int, bytes] | None:
    """``(number, der)`` of the CRL kept for ``(ca, delta)``."""
    row = session.execute(select(PublishedCrlDocument.number, PublishedCrlDocument.der)
                          .where(PublishedCrlDocument.ca == ca,
                                 PublishedCrlDocument.delta == delta)).one_or_none()
    return None if row is None else (row[0], bytes(row[1]))
