"""The jobs lease: on a deployment of several nodes sharing one database, the jobs process's
work (CRLs, OCSP refresh, service certificate renewal, tree heads) runs on one node at a time.

Each node's jobs process tries every second to take or renew a row of the database naming it
and an expiry ``ttl`` ahead; whoever holds an unexpired lease does the work, the others wait,
and when the holder stops renewing (its machine lost) another node takes over once the lease
expires. The jobs are idempotent at that grain: each looks at what is due in the database
before acting, so a node that stalls past its expiry and finishes a job the new holder also
starts costs a CRL number or a re-signed response, never a wrong answer. Time is the nodes'
clocks (NTP), whose skew must stay well under ``ttl``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ca.context import CaContext
from ca.store import leases as lease_store

__all__ = ["JOBS", "LEASE_SECONDS", "JobsLease", "node_name", "lease_holder"]

log = logging.getLogger(__name__)

JOBS = "jobs"
LEASE_SECONDS = 15.0  # how long a lost node keeps the jobs from the others


def node_name() -> str:
    """This node's name in the lease: $REGCA_NODE_NAME, else the host's name (two nodes on one
    host, as in the HA lab, set it), with the process id so a restart is a new holder."""
    return f"{os.environ.get('REGCA_NODE_NAME') or socket.gethostname()}:{os.getpid()}"


class JobsLease:
    def __init__(self, ctx: CaContext, holder: str | None = None,
                 ttl: float = LEASE_SECONDS, name: str = JOBS):
        self.ctx, self.name = ctx, name
        self.holder = holder or node_name()
        self.ttl = dt.timedelta(seconds=ttl)
        self.held = False

    def hold(self) -> bool:
        """Take or renew the lease; whether this node may run the jobs now. The database away
        counts as not held: the other nodes cannot see a renewal either."""
        try:
            with self.ctx.db.transaction() as s:
                held = lease_store.take(s, self.name, self.holder, self.ctx.now(), self.ttl)
            if not held:
                held = self._take_from_dead_predecessor()
        except IntegrityError:
            held = False  # another node created the row first
        except SQLAlchemyError as exc:
            if self.held:
                log.warning("jobs lease not renewed: %s", exc)
            held = False
        if held != self.held:
            log.warning("%s the jobs lease (%s)", "took" if held else "lost", self.holder)
        self.held = held
        return held

    def _take_from_dead_predecessor(self) -> bool:
        """A restarted jobs process whose predecessor on this node was killed need not wait for
        the lease to expire: same node name, and that process no longer exists here."""
        with self.ctx.db.reading() as s:
            found = lease_store.current(s, self.name)
        if found is None or not _dead_here(found[0], self.holder):
            return False
        with self.ctx.db.transaction() as s:
            return lease_store.take(s, self.name, self.holder, self.ctx.now(), self.ttl,
                                    gone=found[0])

    def release(self) -> None:
        """Hand the lease over at once (stopping on purpose)."""
        if not self.held:
            return
        try:
            with self.ctx.db.transaction() as s:
                lease_store.release(s, self.name, self.holder)
        except SQLAlchemyError as exc:
            log.warning("jobs lease not released: %s", exc)
        self.held = False


def _dead_here(holder: str, me: str) -> bool:
    node, _, pid = holder.rpartition(":")
    if node != me.rpartition(":")[0] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another account's
        return False
    return False


def lease_holder(ctx: CaContext, name: str = JOBS) -> dict | None:
    """Who holds the lease and until when (``regca status``, the HA lab)."""
    with ctx.db.reading() as s:
        found = lease_store.current(s, name)
    if found is None:
        return None
    holder, acquired, expires = found
    return {"holder": holder, "acquired_at": acquired, "expires_at": expires,
            "lapsed": expires <= ctx.now()}
