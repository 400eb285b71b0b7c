"""The record of issued tokens, written in batches so the database never paces the TSA.

Rows wait in memory for at most ``interval`` seconds (or until ``batch`` of them are waiting)
and are then inserted in one transaction by a background thread. A clean stop flushes what is
left: ``close()`` runs at interpreter exit (gunicorn workers leave through ``sys.exit``, so
a SIGTERM to ``regca serve`` loses nothing). A failed write keeps the rows and retries.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref

from sqlalchemy.exc import SQLAlchemyError

from ca.store import timestamps as store
from ca.store.db import Database

__all__ = ["TokenJournal", "flush_all"]

log = logging.getLogger(__name__)
_journals: weakref.WeakSet[TokenJournal] = weakref.WeakSet()


def flush_all() -> None:
    """Flush every journal of this process (used at exit)."""
    for journal in list(_journals):
        journal.close()


atexit.register(flush_all)


class TokenJournal:
    def __init__(self, db: Database, interval: float = 0.2, batch: int = 500):
        self.db, self.interval, self.batch = db, interval, batch
        self._rows: list[dict] = []
        self._cond = threading.Condition()
        self._flush_lock = threading.Lock()  # one writer at a time keeps batches in order
        self._thread: threading.Thread | None = None
        self._pid = -1
        self._closed = False
        _journals.add(self)

    def record(self, row: dict) -> None:
        with self._cond:
            self._ensure_writer()
            self._rows.append(row)
            if len(self._rows) >= self.batch:
                self._cond.notify()

    def _ensure_writer(self) -> None:
        # Threads do not survive a fork: each worker starts its own writer on first use, and
        # forgets rows a parent had not written yet (the parent still owns and writes them).
        if self._pid != os.getpid():
            if self._pid != -1:
                self._rows = []
            self._pid = os.getpid()
            self._closed = False
            self._thread = threading.Thread(target=self._run, name="tsa-journal", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._closed and len(self._rows) < self.batch:
                    self._cond.wait(self.interval)
                stopping = self._closed
            self.flush()
            if stopping:
                return

    def flush(self) -> int:
        """Write what is waiting now; returns how many rows were written."""
        with self._flush_lock:
            with self._cond:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                with self.db.transaction() as session:
                    store.record_tokens(session, rows)
            except SQLAlchemyError as exc:
                log.error("time-stamp journal: %d rows not written yet: %s", len(rows), exc)
                with self._cond:
                    self._rows[:0] = rows  # keep them, oldest first, for the next attempt
                return 0
            return len(rows)

    def pending(self) -> int:
        with self._cond:
            return len(self._rows)

    def close(self, attempts: int = 5) -> None:
        """Stop the writer and write everything still waiting (a clean stop loses nothing)."""
        if self._pid != os.getpid():
            return
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        for _ in range(attempts):
            self.flush()
            if not self.pending():
                return
        log.error("time-stamp journal: %d rows could not be written at exit", self.pending())
