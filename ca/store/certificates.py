"""Certificate rows: pending -> issued -> revoked, and the queries services need."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ca.store.db import connection_of
from ca.store.models import Certificate

__all__ = ["PendingCertificate", "insert_pending", "insert_pending_many", "mark_issued_many", "get",
           "current_for_profile", "stale_pending", "set_revocation"]


_TABLE = Certificate.__table__
# Built once: issuance runs these for every certificate.
_INSERT = _TABLE.insert()
_MARK_ISSUED = (_TABLE.update()
                .where(_TABLE.c.serial == bindparam("p_serial"), _TABLE.c.status == "pending")
                .values(status="issued", der=bindparam("p_der"), issued_at=bindparam("p_at")))


class PendingCertificate(NamedTuple):
    """A certificate about to be signed: its row before the signature (DESIGN.md order),
    without ORM state (issuance records one per certificate)."""

    serial: str
    issuer: str
    profile: str
    subject: str
    organization_teryt: str | None
    requested_by: str
    not_before: dt.datetime
    not_after: dt.datetime
    tbs: bytes
    created_at: dt.datetime
    status: str = "pending"


def insert_pending(session: Session, row: Certificate | PendingCertificate) -> None:
    insert_pending_many(session, [row])


def insert_pending_many(session, rows: list[Certificate | PendingCertificate]) -> None:
    """Insert through SQL Core in one statement (the hot path of issuance: no unit-of-work
    bookkeeping); the primary key makes a duplicate serial fail here, before anything is
    signed. Columns a row does not name are NULL."""
    values = [row._asdict() if isinstance(row, PendingCertificate)
              else {c.key: getattr(row, c.key) for c in _TABLE.columns} for row in rows]
    connection_of(session).execute(_INSERT, values)


def mark_issued_many(session, issued: list[tuple[str, bytes, dt.datetime]]
                     ) -> Callable[[], None]:
    """Store signed certificates ``(serial, der, issued_at)``; each must still be pending.

    Returns the check that each was, which raises RuntimeError otherwise: call it after the
    transaction's last statement. On a pipelined connection, reading a row count waits for the
    server, a round trip of its own unless a later statement's result has already been read."""
    conn = connection_of(session)
    params = [{"p_serial": serial, "p_der": der, "p_at": at} for serial, der, at in issued]
    if len(params) > 1 and not conn.dialect.supports_sane_multi_rowcount:
        # this driver cannot count an executemany: one statement each
        marks = [(conn.execute(_MARK_ISSUED, p), [p]) for p in params]
    else:
        marks = [(conn.execute(_MARK_ISSUED, params), params)]

    def check() -> None:
        for result, marked in marks:
            if result.rowcount != len(marked):
                which = marked[0]["p_serial"] if len(marked) == 1 else f"one of {len(marked)}"
                raise RuntimeError(f"certificate {which} was not pending when its signature "
                                   "arrived")
    return check


def get(session: Session, serial: str, for_update: bool = False) -> Certificate | None:
    q = select(Certificate).where(Certificate.serial == serial)
    if for_update:
        q = q.with_for_update()
    return session.execute(q).scalar_one_or_none()


def current_for_profile(session: Session, profile: str,
                        organization_teryt: str | None = None) -> Certificate | None:
    """The newest issued certificate of a CA or service profile (root, issuing, ocsp...)."""
    q = (select(Certificate).where(Certificate.profile == profile,
                                   Certificate.status == "issued")
         .order_by(Certificate.issued_at.desc()).limit(1))
    if organization_teryt is not None:
        q = q.where(Certificate.organization_teryt == organization_teryt)
    return session.execute(q).scalar_one_or_none()


def stale_pending(session: Session, before: dt.datetime) -> list[Certificate]:
    q = (select(Certificate).where(Certificate.status == "pending",
                                   Certificate.created_at < before).with_for_update())
    return list(session.execute(q).scalars())


def set_revocation(row: Certificate, status: str, at: dt.datetime | None, reason: str | None,
                   invalidity_date: dt.datetime | None) -> None:
    row.status, row.revoked_at = status, at
    row.revocation_reason, row.invalidity_date = reason, invalidity_date
