"""Bulk loading for benchmarks and migrations from another CA: many certificate rows in one
statement, without signing anything (the rows carry no DER)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert
from sqlalchemy.orm import Session

from ca.store.models import Certificate, RevocationChange

__all__ = ["insert_certificates", "insert_changes"]


def insert_certificates(session: Session, rows: Iterable[dict], chunk: int = 20000) -> int:
    """Insert certificate rows given as column dicts (executemany, in chunks)."""
    count, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            session.execute(insert(Certificate), batch)
            count, batch = count + len(batch), []
    if batch:
        session.execute(insert(Certificate), batch)
        count += len(batch)
    return count


def insert_changes(session: Session, rows: list[dict]) -> None:
    """Revocation changes for bulk-revoked rows, so the next delta CRL lists them."""
    if rows:
        session.execute(insert(RevocationChange), rows)
