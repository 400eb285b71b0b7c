"""A complete CRL within seconds of a revocation, whoever revoked (a worker, the RA API, the
operator's `regca revoke` in another process).

A revocation publishes a delta at once (``publish_after_revocation``), but NSS, Java and
OpenSSL without ``-use_deltas`` read only complete CRLs. The jobs process polls the revocation
changes the last complete CRL does not cover and republishes it (and an empty delta on it)
once they stop arriving for ``quiet`` seconds, or ``longest`` seconds after the first was
seen: a burst of revocations costs one CRL, not one per revocation (a complete CRL of 100,000
entries takes about a second to build, DESIGN.md "OCSP and CRL at scale").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ca.context import CaContext
from ca.crl import CrlPublisher, PublishedCrl
from ca.errors import ConfigurationError, HsmUnavailable
from ca.store import crl as crl_store

__all__ = ["PromptCrlPublisher"]

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    """Changes seen for one CA and not yet in its complete CRL."""

    newest_seq: int
    first_seen: float
    last_seen: float  # when newest_seq last moved


class PromptCrlPublisher:
    def __init__(self, ctx: CaContext, quiet: float = 2.0, longest: float = 5.0,
                 retry_after: float = 60.0, monotonic: Callable[[], float] = time.monotonic):
        self.ctx = ctx
        self.quiet, self.longest, self.retry_after = quiet, longest, retry_after
        self._monotonic = monotonic
        self._pending: dict[str, _Pending] = {}
        self._not_before: dict[str, float] = {}  # a CA whose key failed is retried later

    def _uncovered(self, ca: str) -> int | None:
        """The newest change seq of ``ca`` when its complete CRL does not cover it."""
        with self.ctx.db.reading() as s:
            newest = crl_store.last_change_seq(s, ca)
            covered = crl_store.peek(s, ca).base_change_seq or 0
        return newest if newest > covered else None

    def poll(self) -> list[PublishedCrl]:
        """One look at every CA; publish those whose changes have settled. Cheap when nothing
        changed: two indexed reads per CA."""
        done = []
        now = self._monotonic()
        for ca in self.ctx.online_cas():  # the offline root's CRL is signed at its ceremonies
            newest = self._uncovered(ca)
            if newest is None:
                self._pending.pop(ca, None)
                continue
            seen = self._pending.get(ca)
            if seen is None:
                seen = self._pending[ca] = _Pending(newest, now, now)
            elif seen.newest_seq != newest:
                seen.newest_seq, seen.last_seen = newest, now
            settled = now - seen.last_seen >= self.quiet or now - seen.first_seen >= self.longest
            if not settled or now < self._not_before.get(ca, 0.0):
                continue
            try:
                done.append(CrlPublisher(self.ctx).publish(ca))
            except (HsmUnavailable, ConfigurationError) as exc:  # e.g. the HSM is away
                log.warning("complete CRL of the %s CA not republished after revocation: %s",
                            ca, exc)
                self._not_before[ca] = now + self.retry_after
                continue
            self._pending.pop(ca, None)
        return done
