"""The jobs ``regca serve`` runs in the background: CRLs re-published when due, the OCSP
responder's short-lived certificate renewed once past three quarters of its life
(ca/rollover.py), OCSP responses refreshed before their nextUpdate or after a responder rollover
(DESIGN.md, "OCSP and CRL at scale"), and, polled every second between those rounds, a complete
CRL re-published within seconds of a revocation (ca/prompt_crl.py). The transparency log's
tree head is signed every ``[transparency] every_entries`` entries or ``every_seconds``
(ca/transparency.py; the contract's maximum merge delay is 60 s). Every few seconds
the newly signed OCSP responses are copied into this node's mirror, which the responder answers
from while the database is away (ca/ocsp_mirror.py). With ``[smtp]`` configured, each round
also e-mails the expiry notices that are due (ra/expiry_notices.py).

On a deployment of several nodes, each node's jobs process contends for the jobs lease
(ca/lease.py) every second: only its holder runs the rounds, the prompt CRLs and the tree heads;
every node copies the CRLs published in the database to its own files (the same bytes on every
node) and the responses to its mirror.

They run in a process of their own, a fresh interpreter: the server's parent must not load the
PKCS#11 module, or the workers it forks inherit a module they cannot initialise again
(DESIGN.md, "Keys": sessions are opened per process after fork). It is a plain subprocess, not
a multiprocessing child, so the forked workers inherit no child to join when they exit.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from ca.context import CaContext
from ca.crl import CrlPublisher, PublishedCopy
from ca.errors import DependencyUnavailable, HsmUnavailable
from ca.lease import JobsLease
from ca.ocsp_cache import ResponseCache, node_mirror, sync_mirror
from ca.prompt_crl import PromptCrlPublisher
from ca.rollover import renew_due
from ca.transparency import HeadSigner
from regca.status_report import write_heartbeat

__all__ = ["run_once", "sign_tree_head", "start_jobs", "send_expiry_notices"]

log = logging.getLogger(__name__)
TICK = 5.0  # how early a due tree head is signed: it is looked at every POLL_SECONDS

POLL_SECONDS = 1.0  # how often the jobs look for revocations the complete CRL lacks

MIRROR_SECONDS = 5.0  # how stale this node's copy of the responses may be


def _log_failure(what: str, exc: Exception) -> None:
    """An HSM or database away is an outage the next round outlives: one line. Anything else
    is a bug: its traceback."""
    if isinstance(exc, (HsmUnavailable, DependencyUnavailable, SQLAlchemyError)):
        log.warning("%s failed: %s", what, exc)
    else:
        log.exception("%s failed", what)


def send_expiry_notices(ctx: CaContext):
    """The expiry e-mails due now (nothing without ``[smtp]``); returns the round's report."""
    from ca.services import ReadOnlyStore
    from ra.expiry_notices import send_due
    if ctx.settings.smtp is None:
        return None
    reader = ReadOnlyStore(ctx.db, ctx.clock, ctx.profiles, ctx.people, ctx.fields)
    return send_due(reader, ctx, ctx.settings.smtp, ctx.settings.expiry_notice_days,
                    ctx.settings.public_url)


def run_once(ctx: CaContext, leading: Callable[[], bool] = lambda: True) -> list[str]:
    """Do what is due for the online CAs; a failed job is logged and tried again on the next
    round. Returns the names of the jobs that failed. The root is never touched: its CRL and OCSP
    answers are signed at its ceremonies (ca/ceremony.py) and last until past the next one.
    ``leading`` is asked before each job (the lease renewed): a node that lost the lease
    mid-round leaves the rest to its new holder."""
    failed = []
    jobs = {"CRL publication": CrlPublisher(ctx).publish_due,
            "service certificate renewal": lambda: renew_due(ctx),
            "OCSP refresh": ResponseCache(ctx).refresh,  # after a renewal: re-signs at once
            "expiry notices": lambda: send_expiry_notices(ctx)}
    for name, job in jobs.items():
        if not leading():
            break
        try:
            job()
        except Exception as exc:
            _log_failure(f"background job {name}", exc)
            failed.append(name)
    return failed


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
    except Exception as exc:
        _log_failure("signing the transparency log's tree head", exc)
        return None


def copy_to_mirror(ctx: CaContext, mirror) -> None:
    try:
        sync_mirror(ctx.db, mirror, ctx.now())
    except Exception as exc:  # the database away: the mirror is what serves meanwhile
        log.warning("OCSP responses not copied to this node's mirror: %s", exc)


def copy_crls(copies: PublishedCopy) -> None:
    try:
        copies.sync()
    except Exception as exc:  # the database away: this node's files are what serves meanwhile
        _log_failure("copying the published CRLs to this node", exc)


def _loop(ctx: CaContext, lease: JobsLease, interval: float) -> None:
    prompt = PromptCrlPublisher(ctx)
    mirror = node_mirror(ctx)
    copies = PublishedCopy(ctx)
    signer, next_round, next_copy = None, time.monotonic(), 0.0
    while True:
        was_leading = lease.held
        leading = lease.hold()
        if leading and not was_leading:
            next_round = time.monotonic()  # a node taking over starts with a round
        copy_crls(copies)
        if time.monotonic() >= next_round:
            failed = run_once(ctx, lease.hold) if leading else []
            next_round = time.monotonic() + interval
            try:  # what `regca status` reads: this process is alive, and how its round went
                write_heartbeat(ctx, interval, failed)
            except OSError as exc:
                log.warning("jobs heartbeat not written: %s", exc)
        if leading:
            try:
                prompt.poll()
            except Exception as exc:
                _log_failure("prompt CRL publication", exc)
            if "audit" in ctx.settings.hsm.keys:
                signer = sign_tree_head(ctx, signer, TICK)
        if time.monotonic() >= next_copy:
            copy_to_mirror(ctx, mirror)
            next_copy = time.monotonic() + MIRROR_SECONDS
        time.sleep(POLL_SECONDS)


def _main(home: Path, interval: float) -> None:
    logging.basicConfig(level=logging.WARNING, format="[jobs] %(message)s")
    # `regca serve` stops this process with SIGTERM: hand the lease over on the way out, so
    # another node need not wait for it to expire.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ctx = CaContext.open(home)
    lease = JobsLease(ctx)
    try:
        _loop(ctx, lease, interval)
    finally:
        lease.release()


def start_jobs(home: Path, interval: float | None = None) -> subprocess.Popen:
    """Start the jobs; a round every ``interval`` seconds (default 60, or
    $REGCA_REVOCATION_JOBS_INTERVAL), the first one at once. The caller stops the process."""
    if interval is None:
        interval = float(os.environ.get("REGCA_REVOCATION_JOBS_INTERVAL") or 60)
    return subprocess.Popen([sys.executable, "-m", "regca.scheduler", str(home), str(interval)])


if __name__ == "__main__":
    try:
        _main(Path(sys.argv[1]), float(sys.argv[2]))
    except KeyboardInterrupt:
        pass
