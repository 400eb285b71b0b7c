"""A per-client sliding-window limit for log-in and pickup attempts (per worker process).

The account lock-out in ``ra.logins`` is the durable defence shared by every worker; this only
slows down one client hammering one worker. It counts on the monotonic clock, not the CA clock.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, attempts: int, seconds: float):
        self.attempts, self.seconds = attempts, seconds
        self._hits: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - self.seconds:
                hits.popleft()
            if len(hits) >= self.attempts:
                return False
            hits.append(now)
            return True
