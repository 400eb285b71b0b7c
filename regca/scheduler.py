"""The jobs ``regca serve`` runs in the background: OCSP responses refreshed before their
nextUpdate and CRLs re-published when due (DESIGN.md, "OCSP and CRL at scale"), and the
transparency log's tree head signed every ``[transparency] every_entries`` entries or
``every_seconds`` (ca/transparency.py; the contract's maximum merge delay is 60 s).

They run in a process of their own, a fresh interpreter: the gunicorn master must not load the
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
from ca.transparency import HeadSigner

__all__ = ["run_once", "sign_tree_head", "start_jobs"]

log = logging.getLogger(__name__)
TICK = 5.0  # how often the tree head's schedule is looked at, in seconds


def run_once(ctx: CaContext) -> None:
    """Do what is due; a failed job is logged and tried again on the next round."""
    for job in (CrlPublisher(ctx).publish_due, ResponseCache(ctx).refresh):
        try:
            job()
        except Exception:
            log.exception("revocation-status job %s failed", job.__qualname__)


def sign_tree_head(ctx: CaContext, signer: HeadSigner | None, margin: float
                   ) -> HeadSigner | None:
    """Sign the log's head when due; returns the signer to reuse (None: try building it again
    next time, e.g. while the HSM is away)."""
    from regca.roles import head_signer  # the TSA's and the web's imports: this process only
    try:
        signer = signer or head_signer(ctx)
        if signer.due(margin):
            signer.sign()
        return signer
    except Exception:
        log.exception("signing the transparency log's tree head failed")
        return None


def _loop(home: Path, interval: float) -> None:
    logging.basicConfig(level=logging.WARNING, format="[jobs] %(message)s")
    ctx = CaContext.open(home)
    tick = min(TICK, interval)
    signer, last_round = None, -interval
    while True:
        if time.monotonic() - last_round >= interval:
            last_round = time.monotonic()
            run_once(ctx)
        if "audit" in ctx.settings.hsm.keys:
            signer = sign_tree_head(ctx, signer, tick)
        time.sleep(tick)


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
