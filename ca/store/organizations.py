"""The JST organisations a home serves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select

from ca.store import tables
from ca.store.db import Database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ca.store.models import Organization

__all__ = ["get", "find", "add", "all_", "holder_of", "with_units"]

_TABLE = tables.organizations
_PARENT = _TABLE.alias("parent")
# A unit without a NIP of its own is named with its JST's: a budget unit (jednostka budżetowa)
# acts for its JST, which is the legal person (ustawa o finansach publicznych, art. 11).
_FIND = select(_TABLE.c.teryt, _TABLE.c.name,
               func.coalesce(_TABLE.c.nip, _PARENT.c.nip).label("nip"), _TABLE.c.regon).select_from(
    _TABLE.outerjoin(_PARENT, _PARENT.c.teryt == _TABLE.c.parent_teryt)).where(
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


def with_units(session: Session, teryts: list[str]) -> list[str]:
    """``teryts`` and the keys of their subordinate units: what a JST's officer acts for."""
    from ca.store.models import Organization
    if not teryts:
        return []
    q = select(Organization.teryt).where(Organization.parent_teryt.in_(teryts))
    units = [k for k in session.execute(q).scalars() if k not in teryts]
    return [*teryts, *sorted(units)]
