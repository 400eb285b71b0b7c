"""The JST organisations a home serves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select

from ca.store import tables
from ca.store.db import Database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ca.store.models import Organization

__all__ = ["get", "find", "add", "all_", "holder_of"]

_TABLE = tables.organizations
_FIND = select(_TABLE.c.teryt, _TABLE.c.name, _TABLE.c.nip, _TABLE.c.regon).where(
    _TABLE.c.teryt == bindparam("p_teryt"))


def get(session: Session, teryt: str) -> Organization | None:
    from ca.store.models import Organization
    return session.get(Organization, teryt)


def find(db: Database, teryt: str):
    """The JST's ``(teryt, name, nip, regon)`` row, or None, read without the ORM (issuance
    from the command line)."""
    with db.reading_connection() as conn:
        return conn.execute(_FIND, {"p_teryt": teryt}).first()


def holder_of(session: Session, field: str, value: str) -> Organization | None:
    """The JST whose ``field`` (``nip`` or ``regon``) is ``value`` (unique, indexed)."""
    from ca.store.models import Organization
    column = {"nip": Organization.nip, "regon": Organization.regon}[field]
    return session.execute(select(Organization).where(column == value)).scalar_one_or_none()


def add(session: Session, org: Organization) -> None:
    session.add(org)
    session.flush()


def all_(session: Session) -> list[Organization]:
    from ca.store.models import Organization
    return list(session.execute(select(Organization).order_by(Organization.teryt)).scalars())
