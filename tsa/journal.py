"""The record of issued tokens: a token's row is committed before the token leaves the TSA.

An auditor must be able to list every token the TSA issued (ETSI EN 319 401 §7.10, collection
of evidence), so a reply that left before its row was written would be a token lost the moment
its worker dies. ``record`` therefore returns only once the row is committed. Concurrent callers
share commits (``ca.store.timestamps.TokenWriter``): the first waiting thread writes every row
waiting, in one transaction, and each caller returns once the transaction holding its row has
committed; a thread alone writes alone, with no added wait.
"""

from __future__ import annotations

from ca.store.db import Database
from ca.store.timestamps import TokenWriter

__all__ = ["TokenJournal"]


class TokenJournal:
    def __init__(self, db: Database):
        self._writer = TokenWriter(db)

    def record(self, row: dict) -> None:
        """Returns once ``row`` (keys as TimestampToken's columns) is committed; raises what
        writing it raised otherwise (an SQLAlchemyError, usually)."""
        self._writer.record(row)
