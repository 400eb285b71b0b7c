"""Form submissions by idempotency key: all their SQL (``FormSubmission``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.store.models import FormSubmission

__all__ = ["claim", "get", "complete", "release", "prune"]


def claim(session: Session, key: str, actor: str, now: dt.datetime) -> FormSubmission | None:
    """Take ``key`` for this submission: None when it is new (go on and act), else the row of
    the earlier submission. Two at once (PostgreSQL) race on the insert: the loser's savepoint
    rolls back once the winner commits, and it reads the winner's row."""
    try:
        with session.begin_nested():
            session.add(FormSubmission(key=key, actor=actor, created_at=now))
        return None
    except IntegrityError:
        return session.execute(select(FormSubmission).where(FormSubmission.key == key)
                               ).scalar_one_or_none()


def get(session: Session, key: str) -> FormSubmission | None:
    return session.get(FormSubmission, key)


def complete(session: Session, key: str, result: str, payload: str | None) -> None:
    row = session.get(FormSubmission, key)
    if row is not None:
        row.result, row.payload = result, payload


def release(session: Session, key: str) -> None:
    """The submission changed nothing (a form shown again with its errors): the key is free."""
    session.execute(delete(FormSubmission).where(FormSubmission.key == key,
                                                 FormSubmission.result.is_(None)))


def prune(session: Session, before: dt.datetime) -> None:
    session.execute(delete(FormSubmission).where(FormSubmission.created_at < before))
