"""The JST organisations a home serves."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.store.models import Organization

__all__ = ["get", "add", "all_"]


def get(session: Session, teryt: str) -> Organization | None:
    return session.get(Organization, teryt)


def add(session: Session, org: Organization) -> None:
    session.add(org)
    session.flush()


def all_(session: Session) -> list[Organization]:
    return list(session.execute(select(Organization).order_by(Organization.teryt)).scalars())
