"""Pre-signed OCSP responses: the responder's cache, kept in the store (DESIGN.md, "OCSP and
CRL at scale")."""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Iterator

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from ca.store.models import Certificate, OcspResponse

__all__ = ["cached", "save", "invalidate", "serials_to_refresh", "status_rows"]

# The columns a response is made from; tuples keep bulk refresh light.
_STATUS_COLUMNS = (Certificate.serial, Certificate.issuer, Certificate.status,
                   Certificate.revoked_at, Certificate.revocation_reason)


def cached(session: Session, serial: str, hash_algorithm: str):
    """``(der, this_update, next_update)`` of the stored response, or None."""
    return session.execute(
        select(OcspResponse.der, OcspResponse.this_update, OcspResponse.next_update)
        .where(OcspResponse.serial == serial, OcspResponse.hash_algorithm == hash_algorithm)
    ).first()


def save(session: Session, rows: Iterable[OcspResponse]) -> None:
    """Insert or replace responses (one per serial and hash algorithm)."""
    for row in rows:
        session.merge(row)


def invalidate(session: Session, serial: str) -> None:
    session.execute(delete(OcspResponse).where(OcspResponse.serial == serial))


def status_rows(session: Session, serials: Iterable[str], for_update: bool = False,
                ) -> list[tuple]:
    """The status columns ``(serial, issuer, status, revoked_at, reason)`` of the given
    certificates; ``for_update`` locks them against a concurrent revocation."""
    q = select(*_STATUS_COLUMNS).where(Certificate.serial.in_(list(serials)))
    if for_update:
        q = q.with_for_update()
    return [tuple(r) for r in session.execute(q)]


def serials_to_refresh(session: Session, hash_algorithm: str, before: dt.datetime,
                       issuer: str | None = None, batch: int = 1000) -> Iterator[list[tuple]]:
    """Status rows of settled certificates whose response for ``hash_algorithm`` is missing or
    expires before ``before``, in batches (keyset pagination by serial)."""
    last = ""
    while True:
        q = (select(*_STATUS_COLUMNS)
             .outerjoin(OcspResponse, (OcspResponse.serial == Certificate.serial)
                        & (OcspResponse.hash_algorithm == hash_algorithm))
             .where(Certificate.status != "pending", Certificate.serial > last,
                    or_(OcspResponse.serial.is_(None), OcspResponse.next_update < before))
             .order_by(Certificate.serial).limit(batch))
        if issuer is not None:
            q = q.where(Certificate.issuer == issuer)
        rows = [tuple(r) for r in session.execute(q)]
        if not rows:
            return
        yield rows
        last = rows[-1][0]
