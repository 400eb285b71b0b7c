"""The JST organisations a home serves."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.store.models import Organization

__all__ = ["get", "add", "all_", "holder_of"]


def get(session: Session, teryt: str) -> Organization | None:
    return session.get(Organization, teryt)


def holder_of(session: Session, field: str, value: str) -> Organization | None:
    """The JST whose ``field`` (``nip`` or ``regon``) is ``value`` (unique, indexed)."""
    column = {"nip": Organization.nip, "regon": Organization.regon}[field]
    return session.execute(select(Organization).where(column == value)).scalar_one_or_none()


def add(session: Session, org: Organization) -> None:
    session.add(org)
    session.flush()


def all_(session: Session) -> list[Organization]:
    return list(session.execute(select(Organization).order_by(Organization.teryt)).scalars())
