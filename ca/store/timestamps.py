"""Time-stamp tokens: the serial counter and the journal of issued tokens."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ca.store.db import Database, connection_of
from ca.store.groupcommit import GroupWriter
from ca.store.models import TimestampToken, TsaSerialCounter

__all__ = ["TokenWriter", "count_tokens", "record_tokens", "reserve_serials", "tokens_between"]

_COUNTER_ID = 1
_INSERT_TOKENS = TimestampToken.__table__.insert()  # one object: compiled once per dialect


def reserve_serials(session: Session, count: int) -> int:
    """Reserve ``count`` consecutive serials and return the first.

    The UPDATE takes the row's write lock (PostgreSQL row lock, SQLite BEGIN IMMEDIATE), so two
    processes never get overlapping blocks; a block is never handed out again, even if unused.
    """
    done = session.execute(update(TsaSerialCounter).where(TsaSerialCounter.id == _COUNTER_ID)
                           .values(next_serial=TsaSerialCounter.next_serial + count))
    if done.rowcount == 0:
        session.add(TsaSerialCounter(id=_COUNTER_ID, next_serial=1 + count))
        session.flush()  # a concurrent first insert fails here on the primary key; caller retries
        return 1
    return session.execute(select(TsaSerialCounter.next_serial)
                           .where(TsaSerialCounter.id == _COUNTER_ID)).scalar_one() - count


def record_tokens(session, rows: list[dict]) -> None:
    """Insert a batch of journal rows (keys as TimestampToken's columns) in one statement;
    ``session`` may be a connection (``TokenWriter``'s)."""
    if rows:
        connection_of(session).execute(_INSERT_TOKENS, rows)


class TokenWriter:
    """The TSA's write path: ``record`` returns once the row is committed. Concurrent callers
    share transactions (group commit, ``ca/store/groupcommit.py``): a group is one multi-row
    INSERT, so a row written alone needs no transaction around it."""

    def __init__(self, db: Database):
        self._writer: GroupWriter[dict] = GroupWriter(db, record_tokens, one_statement_each=True)

    def record(self, row: dict) -> None:
        """Raises what writing the row raised (an SQLAlchemyError, usually)."""
        self._writer.submit(row)


def count_tokens(session: Session) -> int:
    return session.execute(select(func.count()).select_from(TimestampToken)).scalar_one()


def tokens_between(session: Session, first: int, last: int) -> list[TimestampToken]:
    q = (select(TimestampToken).where(TimestampToken.serial.between(first, last))
         .order_by(TimestampToken.serial))
    return list(session.execute(q).scalars())
