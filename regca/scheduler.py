"""The revocation-status jobs ``regca serve`` runs in the background: OCSP responses
refreshed before their nextUpdate and CRLs re-published when due (DESIGN.md, "OCSP and CRL at
scale").

They run in a process of their own, a fresh interpreter: the server's parent must not load the
PKCS#11 module, or the workers it forks inherit a module they cannot initialise again
(DESIGN.md, "Keys": sessions are opened per process after fork). It is a plain subprocess, not
a multiprocessing child, so the forked workers inherit no child to join when they exit.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from ca.context import CaContext
from ca.crl import CrlPublisher
from ca.ocsp_cache import ResponseCache

__all__ = ["run_once", "start_jobs"]

log = logging.getLogger(__name__)


def run_once(ctx: CaContext) -> None:
    """Do what is due; a failed job is logged and tried again on the next round."""
    for job in (CrlPublisher(ctx).publish_due, ResponseCache(ctx).refresh):
        try:
            job()
        except Exception:
            log.exception("revocation-status job %s failed", job.__qualname__)


def _loop(home: Path, interval: float) -> None:
    logging.basicConfig(level=logging.WARNING, format="[revocation-jobs] %(message)s")
    ctx = CaContext.open(home)
    while True:
        run_once(ctx)
        time.sleep(interval)


def start_jobs(home: Path, interval: float | None = None) -> subprocess.Popen:
    """Start the jobs; a round every ``interval`` seconds (default 60, or
    $REGCA_REVOCATION_JOBS_INTERVAL), the first one at once. The caller stops the process."""
    if interval is None:
        interval = float(os.environ.get("REGCA_REVOCATION_JOBS_INTERVAL") or 60)
    return subprocess.Popen([sys.executable, "-m", "regca.scheduler", str(home), str(interval)])


if __name__ == "__main__":
    try:
        _loop(Path(sys.argv[1]), float(sys.argv[2]))
    except KeyboardInterrupt:
        pass
