"""The enrollment web's sessions: one row per signed-in visitor, found by the token's hash."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from ca.store.models import WebSession

__all__ = ["add", "get", "remove", "remove_of_user", "remove_of_enrolment", "remove_expired",
           "touch"]


def add(session: Session, row: WebSession) -> None:
    session.add(row)
    session.flush()


def get(session: Session, token_hash: str) -> WebSession | None:
    return session.get(WebSession, token_hash)


def remove(session: Session, token_hash: str) -> int:
    return session.execute(delete(WebSession).where(WebSession.token_hash == token_hash)
                           ).rowcount


def remove_of_user(session: Session, username: str, keep: str | None = None) -> int:
    """Every session of ``username`` (but ``keep``, a token hash); the number removed."""
    q = delete(WebSession).where(WebSession.username == username)
    if keep is not None:
        q = q.where(WebSession.token_hash != keep)
    return session.execute(q).rowcount


def remove_of_enrolment(session: Session, enrolment_id: int) -> int:
    return session.execute(delete(WebSession).where(WebSession.enrolment_id == enrolment_id)
                           ).rowcount


def remove_expired(session: Session, created_before: dt.datetime,
                   seen_before: dt.datetime) -> int:
    """Sessions past their absolute or idle lifetime, which no request can resume any more."""
    return session.execute(delete(WebSession).where(or_(
        WebSession.created_at < created_before, WebSession.last_seen_at < seen_before))
    ).rowcount


def touch(session: Session, token_hash: str, at: dt.datetime) -> None:
    session.execute(update(WebSession).where(WebSession.token_hash == token_hash)
                    .values(last_seen_at=at))
