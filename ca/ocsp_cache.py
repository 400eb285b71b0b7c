"""Pre-signed OCSP responses (DESIGN.md, "OCSP and CRL at scale"; the RFC 5019 model):
produced at issuance, refreshed before nextUpdate, replaced in the revoking transaction.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from ca.context import CaContext
from ca.errors import ConfigurationError, HsmUnavailable, NotFound
from ca.ocsp_mirror import ResponseMirror
from ca.ocsp_signer import HASHES, PRESIGNED, VALIDITY, OcspSigner, status_of
from ca.store import ocsp as ocsp_store
from ca.store.db import Database
from ca.store.models import Certificate
from ca.store.ocsp import ResponseRow

__all__ = ["ResponseCache", "kept_current", "node_mirror", "save_current", "sync_mirror"]

# How far back each copy into a node's mirror looks again: a response is stamped when it is
# signed, shortly before its transaction commits, and a slow commit must not be skipped.
MIRROR_OVERLAP = dt.timedelta(minutes=10)

log = logging.getLogger(__name__)


def kept_current(db: Database, pairs: list[tuple[tuple, ResponseRow]]) -> list[ResponseRow]:
    """Store responses whose certificate still has the status they were signed for; returns
    those stored.

    Signing happens outside the write transaction; a revocation committed meanwhile has
    already stored its own response, which a stale ``good`` must not overwrite.
    """
    if not pairs:
        return []
    with db.transaction() as s:
        now = {r[0]: r for r in ocsp_store.status_rows(s, {row[0] for row, _ in pairs},
                                                       for_update=True)}
        keep = [resp for row, resp in pairs if now.get(row[0]) == row]
        ocsp_store.save(s, keep)
    return keep


def save_current(db: Database, pairs: list[tuple[tuple, ResponseRow]]) -> int:
    return len(kept_current(db, pairs))


def node_mirror(ctx: CaContext) -> ResponseMirror:
    """This node's mirror of the responses, in its home."""
    return ResponseMirror(ctx.settings.cache_dir / "ocsp")


def sync_mirror(db: Database, mirror: ResponseMirror, now: dt.datetime) -> int:
    """Copy into this node's mirror what the database signed or revoked since the last copy
    (everything still valid, the first time); returns how many responses were copied. A
    certificate revoked meanwhile loses its older responses even if its new ones are not
    signed yet (the HSM was away): the mirror never keeps a ``good`` the database dropped."""
    last = mirror.synced_to()
    since = None if last is None else last - MIRROR_OVERLAP
    copied = 0
    with db.reading() as read:
        dropped = ocsp_store.revoked_since(read, since) if since is not None else []
        for batch in ocsp_store.responses_since(read, since, now):
            mirror.replace(batch, dropped)
            dropped = ()
            copied += len(batch)
    mirror.replace([], dropped, synced_to=now)  # the mark moves once everything is copied
    return copied


class ResponseCache:
    def __init__(self, ctx: CaContext, signer: OcspSigner | None = None):
        self.ctx = ctx
        self.signer = signer or OcspSigner(ctx)

    def save_current(self, pairs: list[tuple[tuple, ResponseRow]]) -> int:
        return save_current(self.ctx.db, pairs)

    def responses_for(self, row: tuple, algorithms: tuple[str, ...] | None = None
                      ) -> list[ResponseRow]:
        """Signed responses for a status row ``(serial, issuer, status, revoked_at, reason)``,
        for ``algorithms`` (default: those pre-signed for its CA); none for a pending row (its
        status is not settled)."""
        serial, ca = row[0], row[1]
        if algorithms is None:
            algorithms = PRESIGNED[ca]
        status = status_of(int(serial, 16), row, ca)
        if not status.cacheable:
            return []
        out = []
        for alg in algorithms:
            der, this_update, next_update = self.signer.sign(self.signer.hashes_of(ca, alg),
                                                             status)
            out.append(ResponseRow(serial, alg, ca, der, this_update, next_update))
        return out

    # -- hooks of the core ----------------------------------------------------------------------

    def for_new(self, serial: str, ca: str) -> list[ResponseRow]:
        """The pre-signed ``good`` responses of a certificate being stored as issued, to be
        saved in the same transaction. Best effort: issuance does not depend on them, and a missing
        response is signed on the first request or by the next refresh."""
        try:
            return self.responses_for((serial, ca, "issued", None, None))
        except NotFound as exc:  # during `regca init`, before both CA certificates exist
            log.info("OCSP response for %s left to the refresh job: %s", serial, exc)
        except (HsmUnavailable, ConfigurationError) as exc:
            log.warning("OCSP response for %s not pre-signed: %s", serial, exc)
        return []

    def replace_in(self, session: Session, row: Certificate) -> None:
        """Inside the revoking transaction: replace the certificate's responses with freshly
        signed ones, or drop them if the HSM cannot sign now, so a stale ``good`` is never
        served (DESIGN.md, "Issuance never loses a certificate")."""
        ocsp_store.invalidate(session, row.serial)
        try:  # every algorithm: a revocation is rare, and its news should not wait for a miss
            responses = self.responses_for((row.serial, row.issuer, row.status, row.revoked_at,
                                            row.revocation_reason), tuple(HASHES))
        except (HsmUnavailable, ConfigurationError, NotFound) as exc:
            log.warning("OCSP responses for %s dropped, not re-signed: %s", row.serial, exc)
            return
        ocsp_store.save(session, responses)

    # -- the refresh job ------------------------------------------------------------------------

    def refresh(self, issuers=tuple(VALIDITY), algorithms=tuple(HASHES),
                batch: int = 500) -> dict[str, int]:
        """Sign every response that has less than half its validity left, and the pre-signed
        ones that are missing (``PRESIGNED``).

        Returns how many were signed per CA. A CA whose key is unreachable (an offline root) is
        skipped with a warning; the others still refresh.
        """
        done = {}
        for ca in issuers:
            before = self.ctx.now() + VALIDITY[ca] / 2
            count = 0
            try:
                for alg in algorithms:
                    count += self._refresh(ca, alg, before, batch)
            except (HsmUnavailable, ConfigurationError) as exc:  # e.g. no PIN: root offline
                log.warning("OCSP responses of the %s CA not refreshed: %s", ca, exc)
            done[ca] = count
        return done

    def _refresh(self, ca: str, alg: str, before: dt.datetime, batch: int) -> int:
        count = 0
        with self.ctx.db.reading() as read:
            for rows in ocsp_store.serials_to_refresh(read, alg, before, ca, batch,
                                                      missing=alg in PRESIGNED[ca]):
                count += self.save_current([(row, r) for row in rows
                                            for r in self.responses_for(row, (alg,))])
        return count

