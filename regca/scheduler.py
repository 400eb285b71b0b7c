"""The revocation-status jobs ``regca serve`` runs in the background: OCSP responses
refreshed before their nextUpdate and CRLs re-published when due (DESIGN.md, "OCSP and CRL at
scale"), and every few seconds the newly signed responses copied into this node's mirror, which
the responder answers from while the database is away (ca/ocsp_mirror.py).

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
from ca.ocsp_cache import ResponseCache, node_mirror, sync_mirror

__all__ = ["run_once", "start_jobs"]

log = logging.getLogger(__name__)

MIRROR_SECONDS = 5.0  # how stale this node's copy of the responses may be


def run_once(ctx: CaContext) -> None:
    """Do what is due; a failed job is logged and tried again on the next round."""
    for job in (CrlPublisher(ctx).publish_due, ResponseCache(ctx).refresh):
        try:
            job()
        except Exception:
            log.exception("revocation-status job %s failed", job.__qualname__)


def copy_to_mirror(ctx: CaContext, mirror) -> None:
    try:
        sync_mirror(ctx.db, mirror, ctx.now())
    except Exception as exc:  # the database away: the mirror is what serves meanwhile
        log.warning("OCSP responses not copied to this node's mirror: %s", exc)


def _loop(home: Path, interval: float) -> None:
    logging.basicConfig(level=logging.WARNING, format="[revocation-jobs] %(message)s")
    ctx = CaContext.open(home)
    mirror = node_mirror(ctx)
    due = 0.0
    while True:
        if time.monotonic() >= due:
            run_once(ctx)
            due = time.monotonic() + interval
        copy_to_mirror(ctx, mirror)
        time.sleep(min(interval, MIRROR_SECONDS))


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
