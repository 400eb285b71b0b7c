"""Back-off rows of guessed secrets: all their SQL (the policy is ``ra.backoff``'s)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.store.models import GuessBackoff

__all__ = ["blocked_until", "record_failure", "clear", "prune"]


def blocked_until(session: Session, keys: Iterable[str]) -> dt.datetime | None:
    """The latest time any of ``keys`` allows its next guess (None: no row)."""
    q = select(func.max(GuessBackoff.next_allowed_at)).where(GuessBackoff.key.in_(list(keys)))
    return session.execute(q).scalar_one_or_none()


def _row(session: Session, key: str, now: dt.datetime) -> GuessBackoff:
    """The key's row, locked; made on first need. Two first failures at once (PostgreSQL) race
    on the insert: the loser's savepoint rolls back and it takes the winner's row."""
    q = select(GuessBackoff).where(GuessBackoff.key == key).with_for_update()
    row = session.execute(q).scalar_one_or_none()
    if row is None:
        try:
            with session.begin_nested():
                row = GuessBackoff(key=key, failures=0, next_allowed_at=now,
                                   last_failure_at=now)
                session.add(row)
        except IntegrityError:
            row = session.execute(q).scalar_one()
    return row


def record_failure(session: Session, key: str, now: dt.datetime,
                   wait: Callable[[int, dt.datetime | None], tuple[int, dt.timedelta]]) -> None:
    """One more wrong guess under ``key``: ``wait(failures so far, when the last window ended)``
    gives the new count and how long the next guess must wait from ``now``."""
    row = _row(session, key, now)
    ended = row.next_allowed_at if row.failures else None
    row.failures, delay = wait(row.failures, ended)
    row.last_failure_at = now
    row.next_allowed_at = now + delay


def clear(session: Session, keys: Iterable[str]) -> None:
    session.execute(delete(GuessBackoff).where(GuessBackoff.key.in_(list(keys))))


def prune(session: Session, before: dt.datetime) -> int:
    """Forget the rows whose last failure is older than ``before``; returns how many."""
    done = session.execute(delete(GuessBackoff).where(GuessBackoff.last_failure_at < before))
    return done.rowcount
