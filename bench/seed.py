"""Many certificate rows for the OCSP and CRL benchmarks, through the store's own write path:
each row recorded pending, stored as issued and, if asked, revoked, with its audit event (the
store has one way to write a certificate row). Nothing is signed: the rows carry no DER.
"""

from __future__ import annotations

import datetime as dt

from ca.audit import Event
from ca.context import CaContext
from ca.store import certificates as cert_store
from ca.store.certificates import PendingCertificate, Revocation, SignedCertificate

__all__ = ["revoke", "seed"]

_CHUNK = 20000  # rows per transaction


def seed(ctx: CaContext, entries: list[tuple[str, str | None]]) -> None:
    """Issued certificates of the issuing CA, one per ``(serial, reason)``; those with a
    reason are then revoked for it."""
    now = ctx.now().replace(microsecond=0)
    for start in range(0, len(entries), _CHUNK):
        rows = [PendingCertificate(serial, "issuing", "resident-signing", f"CN=bench {i}", None,
                                   "bench", now, now + dt.timedelta(days=365), b"", now)
                for i, (serial, _) in enumerate(entries[start:start + _CHUNK], start)]
        with ctx.db.transaction() as s:
            cert_store.insert_pending_many(s, rows)
            cert_store.store_issued(s, [SignedCertificate(r, b"") for r in rows], now)
    revoke(ctx, [(serial, reason) for serial, reason in entries if reason])


def revoke(ctx: CaContext, pairs: list[tuple[str, str]]) -> None:
    """Revoke each ``(serial, reason)`` as the store records any revocation (row, audit event,
    the change a delta CRL lists); no OCSP response is re-signed."""
    now = ctx.now()
    for start in range(0, len(pairs), _CHUNK):
        reasons = dict(pairs[start:start + _CHUNK])
        with ctx.db.transaction() as s:
            rows = cert_store.get_many(s, list(reasons), for_update=True)
            cert_store.set_revocation(s, [Revocation(
                row, "revoked", now, reasons[row.serial], None, Event(
                    actor="bench", action="certificate.revoke",
                    object=f"certificate:{row.serial}", details={"reason": reasons[row.serial]}))
                for row in rows], now)
