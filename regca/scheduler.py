"""The jobs ``regca serve`` runs in the background: CRLs re-published when due, the OCSP
responder's short-lived certificate renewed once past three quarters of its life
(ca/rollover.py), OCSP responses refreshed before their nextUpdate or after a responder rollover
(DESIGN.md, "OCSP and CRL at scale"), and, polled every second between those rounds, a complete
CRL re-published within seconds of a revocation (ca/prompt_crl.py).

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
from ca.prompt_crl import PromptCrlPublisher
from ca.rollover import renew_due
from regca.status_report import write_heartbeat

__all__ = ["run_once", "start_jobs"]

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often the jobs look for revocations the complete CRL lacks


def run_once(ctx: CaContext) -> list[str]:
    """Do what is due for the online CAs; a failed job is logged and tried again on the next
    round. Returns the names of the jobs that failed. The root is never touched: its CRL and OCSP
    answers are signed at its ceremonies (ca/ceremony.py) and last until past the next one."""
    failed = []
    jobs = {"CRL publication": CrlPublisher(ctx).publish_due,
            "service certificate renewal": lambda: renew_due(ctx),
            "OCSP refresh": ResponseCache(ctx).refresh}  # after a renewal: re-signs at once
    for name, job in jobs.items():
        try:
            job()
        except Exception:
            log.exception("background job %s failed", name)
            failed.append(name)
    return failed


def _loop(home: Path, interval: float) -> None:
    logging.basicConfig(level=logging.WARNING, format="[revocation-jobs] %(message)s")
    ctx = CaContext.open(home)
    prompt = PromptCrlPublisher(ctx)
    next_round = time.monotonic()
    while True:
        if time.monotonic() >= next_round:
            failed = run_once(ctx)
            next_round = time.monotonic() + interval
            try:  # what `regca status` reads: this process is alive, and how its round went
                write_heartbeat(ctx, interval, failed)
            except OSError as exc:
                log.warning("jobs heartbeat not written: %s", exc)
        try:
            prompt.poll()
        except Exception:
            log.exception("prompt CRL publication failed")
        time.sleep(POLL_SECONDS)


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
