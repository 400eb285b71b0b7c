"""The revocation-status jobs ``regca serve`` runs in the background: OCSP responses
refreshed before their nextUpdate and CRLs re-published when due (DESIGN.md, "OCSP and CRL at
scale")."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ca.context import CaContext
from ca.crl import CrlPublisher
from ca.ocsp_cache import ResponseCache

__all__ = ["RevocationJobs"]

log = logging.getLogger(__name__)


class RevocationJobs:
    """One daemon thread; each round does what is due, so a missed round only delays it."""

    def __init__(self, home: Path, interval: float = 60.0):
        self.home, self.interval = home, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, ctx: CaContext) -> None:
        for job in (CrlPublisher(ctx).publish_due, ResponseCache(ctx).refresh):
            try:
                job()
            except Exception:  # a failed round is logged and retried on the next one
                log.exception("revocation-status job %s failed", job.__qualname__)

    def _loop(self) -> None:
        ctx = CaContext.open(self.home)  # its own HSM session and database pool
        while True:
            self.run_once(ctx)
            if self._stop.wait(self.interval):
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="revocation-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
