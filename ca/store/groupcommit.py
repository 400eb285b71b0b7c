"""Group commit: rows from concurrent threads written in one transaction.

A write transaction costs a BEGIN, the audit head's lock and a COMMIT (an fsync on PostgreSQL)
whatever it holds. When several threads of a worker write at once, the first becomes the leader
and writes every row waiting, in one transaction; the others wait for it and return when their
row is committed. A thread alone writes alone, with no added wait.

If a group's transaction fails, each of its rows is written again in a transaction of its own,
so one caller's mistake (a duplicate serial, say) is reported to that caller only. A transaction
lost with its database connection is tried once more on a fresh one.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError

from ca.store.db import Database
from ca.store.direct import DirectConnection

__all__ = ["GroupWriter"]

T = TypeVar("T")


@dataclass
class _Waiting(Generic[T]):
    item: T
    done: bool = False
    error: BaseException | None = None


class GroupWriter(Generic[T]):
    """``write(conn, items)`` run for the items of every thread waiting at the moment, on a
    ``DirectConnection`` (Core statements only)."""

    def __init__(self, db: Database, write: Callable[[DirectConnection, list[T]], None],
                 one_statement_each: bool = False):
        """``one_statement_each``: ``write`` runs one statement per item, so an item written
        alone needs no transaction around it (``Database.direct_transaction``)."""
        self.db, self._write = db, write
        self._one_statement_each = one_statement_each
        self._reset()
        _writers.add(self)

    def _reset(self) -> None:
        """Fresh state; also in a forked child, where the parent's threads and lock stay behind."""
        self._cond = threading.Condition()
        self._queue: list[_Waiting[T]] = []
        self._busy = False

    def submit(self, item: T) -> None:
        """Returns once ``item`` is committed; raises what writing it alone raised."""
        me = _Waiting(item)
        with self._cond:
            self._queue.append(me)
            while self._busy and not me.done:
                self._cond.wait()
            if not me.done:
                self._busy = True
                group, self._queue = self._queue, []
        if not me.done:
            try:
                self._commit(group)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
        if me.error is not None:
            raise me.error

    def _commit(self, group: list[_Waiting[T]]) -> None:
        """Every item ends done, with an error unless a transaction holding it committed."""
        interrupted = RuntimeError("interrupted before this row was committed")
        for w in group:
            w.error = interrupted  # until a commit says otherwise
        try:
            try:
                self._transaction([w.item for w in group])
                for w in group:
                    w.error = None
                return
            except Exception as exc:
                if len(group) == 1:
                    group[0].error = exc
                    return
            for w in group:  # find whose row it was: each alone
                try:
                    self._transaction([w.item])
                    w.error = None
                except Exception as own:
                    w.error = own
        finally:
            for w in group:
                w.done = True


    def _transaction(self, items: list[T]) -> None:
        for attempt in (1, 2):
            try:
                alone = self._one_statement_each and len(items) == 1
                with self.db.direct_transaction(one_statement=alone) as conn:
                    self._write(conn, items)
                return
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise


_writers: weakref.WeakSet[GroupWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_writers):
        writer._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
