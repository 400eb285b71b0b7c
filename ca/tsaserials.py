"""Time-stamp token serials: unique across workers and restarts, increasing in each process.

RFC 3161 §2.4.2 requires a serial unique for every token of this TSA. An in-memory counter
repeats after a restart and collides between gunicorn workers; one database write per token
would make the store the bottleneck. So each process reserves a block of consecutive serials in
one transaction (the "hi/lo" scheme) and hands them out under a lock. Blocks are never reused:
a restart skips the rest of its block, so serials keep increasing across restarts; between
workers they interleave block by block.
"""

from __future__ import annotations

import os
import threading

from sqlalchemy.exc import IntegrityError

from ca.store import timestamps as store
from ca.store.db import Database

__all__ = ["SerialAllocator"]


class SerialAllocator:
    def __init__(self, db: Database, block: int):
        if block < 1:
            raise ValueError("block must be at least 1")
        self.db, self.block = db, block
        self._lock = threading.Lock()
        self._next = self._end = 0
        self._pid = os.getpid()

    def next(self) -> int:
        with self._lock:
            if self._pid != os.getpid():  # a forked child must never reuse its parent's block
                self._next = self._end = 0
                self._pid = os.getpid()
            if self._next >= self._end:
                first = self._reserve()
                self._next, self._end = first, first + self.block
            serial = self._next
            self._next += 1
            return serial

    def _reserve(self) -> int:
        for _ in range(3):
            try:
                with self.db.transaction() as session:
                    return store.reserve_serials(session, self.block)
            except IntegrityError:
                continue  # another process created the counter row first; take a block again
        raise RuntimeError("could not reserve time-stamp serials")
