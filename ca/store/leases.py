"""Job leases: one row per singleton, naming the node that runs it and until when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ca.store.models import JobLease

__all__ = ["take", "release", "current"]


def take(session: Session, name: str, holder: str, now: dt.datetime,
         ttl: dt.timedelta, gone: str | None = None) -> bool:
    """Renew ``name`` for ``holder``, or take it over when its lease has expired or its holder
    is ``gone`` (known dead); False when another holder's lease still runs. The row is locked,
    so two nodes never both win (a first INSERT racing another fails with IntegrityError: the
    caller treats it as lost)."""
    row = session.execute(select(JobLease).where(JobLease.name == name)
                          .with_for_update()).scalar_one_or_none()
    if row is None:
        session.add(JobLease(name=name, holder=holder, acquired_at=now, expires_at=now + ttl))
        session.flush()
        return True
    if row.holder != holder:
        if row.expires_at > now and row.holder != gone:
            return False
        row.holder, row.acquired_at = holder, now
    row.expires_at = now + ttl
    return True


def release(session: Session, name: str, holder: str) -> None:
    """Give the lease up at once (a node stopping on purpose), if ``holder`` has it."""
    session.execute(delete(JobLease).where(JobLease.name == name, JobLease.holder == holder))


def current(session: Session, name: str) -> tuple[str, dt.datetime, dt.datetime] | None:
    """``(holder, acquired_at, expires_at)`` of ``name``, or None if nobody ever took it."""
    row = session.execute(select(JobLease.holder, JobLease.acquired_at, JobLease.expires_at)
                          .where(JobLease.name == name)).one_or_none()
    return None if row is None else tuple(row)
