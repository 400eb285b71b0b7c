"""Pre-signed OCSP responses (DESIGN.md, "OCSP and CRL at scale"; the RFC 5019 model):
produced at issuance, refreshed before nextUpdate, replaced in the revoking transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from ca.context import CaContext
from ca.errors import ConfigurationError, HsmUnavailable, NotFound
from ca.ocsp_mirror import ResponseMirror
from ca.ocsp_signer import HASHES, OcspSigner, status_of
from ca.rolekeys import RECHECK
from ca.store import ocsp as ocsp_store
from ca.store import service_certificates as generations_store
from ca.store.db import Database
from ca.store.ocsp import ResponseRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ca.store.models import Certificate

__all__ = ["ResponseCache", "kept_current", "node_mirror", "save_current", "sync_mirror"]

# How far back each copy into a node's mirror looks again: a response is stamped when it is
# signed, shortly before its transaction commits, and a slow commit must not be skipped.
MIRROR_OVERLAP = dt.timedelta(minutes=10)

log = logging.getLogger(__name__)

_EVERY_RESPONSE = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)  # a nextUpdate before this


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
        self.signer = signer or OcspSigner(ctx, root_validity=ctx.ceremony_policy.validity)

    def save_current(self, pairs: list[tuple[tuple, ResponseRow]]) -> int:
        return save_current(self.ctx.db, pairs)

    def responses_for(self, row: tuple, algorithms: tuple[str, ...] | None = None
                      ) -> list[ResponseRow]:
        """Signed responses for a status row ``(serial, issuer, status, revoked_at, reason)``,
        for ``algorithms`` (default: those pre-signed for its CA); none for a pending row (its
        status is not settled)."""
        serial, ca = row[0], row[1]
        if algorithms is None:
            algorithms = self.signer.presigned(ca)
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

    def refresh(self, issuers=None, algorithms=tuple(HASHES), batch: int = 500,
                force: bool = False) -> dict[str, int]:
        """Sign every response that has less than half its validity left (``force``: every
        response), those an earlier responder key signed (after a rollover), and the pre-signed
        ones that are missing (``PRESIGNED``).

        ``issuers`` defaults to the CAs whose keys are online: the offline root's answers are
        signed at its ceremonies (ca/ceremony.py). Returns how many were signed per CA. A CA
        whose key is unreachable is skipped with a warning; the others still refresh.
        """
        done = {}
        for ca in self.ctx.online_cas() if issuers is None else issuers:
            validity = self.signer.validity_of(ca)
            before = _EVERY_RESPONSE if force else self.ctx.now() + validity / 2
            count = 0
            try:
                # A CA signing its own answers (the root, a retired issuing CA) used no
                # responder key that a rollover could have replaced.
                signed_before = self._responder_since() if self.signer.delegates(ca) else None
                for alg in algorithms:
                    count += self._refresh(ca, alg, before, batch, signed_before)
            except (HsmUnavailable, ConfigurationError) as exc:  # e.g. no PIN: root offline
                log.warning("OCSP responses of the %s CA not refreshed: %s", ca, exc)
            done[ca] = count
        return done

    def _responder_since(self) -> dt.datetime | None:
        """Responses signed before this are by an earlier responder key: the activation of the
        responder's generation, plus the time every worker may take to follow it
        (ca/rolekeys.py), so nothing an old key signed stays in the cache once it has passed.
        None while the first generation signs."""
        with self.ctx.db.reading() as s:
            active = generations_store.active(s, "ocsp")
        if active is None or active.generation == 1:
            return None
        return active.created_at + dt.timedelta(seconds=2 * RECHECK)

    def _refresh(self, ca: str, alg: str, before: dt.datetime, batch: int,
                 signed_before: dt.datetime | None = None) -> int:
        count = 0
        with self.ctx.db.reading() as read:
            for rows in ocsp_store.serials_to_refresh(read, alg, before, ca, batch,
                                                      missing=alg in self.signer.presigned(ca),
                                                      signed_before=signed_before):
                count += self.save_current([(row, r) for row in rows
                                            for r in self.responses_for(row, (alg,))])
        return count

