"""Certificate rows: pending -> issued -> revoked, and the queries services need."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ca.store.models import Certificate

__all__ = ["insert_pending", "mark_issued", "get", "current_for_profile", "stale_pending",
           "set_revocation"]


def insert_pending(session: Session, row: Certificate) -> None:
    session.add(row)
    session.flush()  # the primary key makes a duplicate serial fail here, before signing


def mark_issued(session: Session, serial: str, der: bytes, at: dt.datetime) -> None:
    done = session.execute(update(Certificate)
                           .where(Certificate.serial == serial, Certificate.status == "pending")
                           .values(status="issued", der=der, issued_at=at))
    if done.rowcount != 1:
        raise RuntimeError(f"certificate {serial} was not pending when its signature arrived")


def get(session: Session, serial: str, for_update: bool = False) -> Certificate | None:
    q = select(Certificate).where(Certificate.serial == serial)
    if for_update:
        q = q.with_for_update()
    return session.execute(q).scalar_one_or_none()


def current_for_profile(session: Session, profile: str,
                        organization_teryt: str | None = None) -> Certificate | None:
    """The newest issued certificate of a CA or service profile (root, issuing, ocsp...)."""
    q = (select(Certificate).where(Certificate.profile == profile,
                                   Certificate.status == "issued")
         .order_by(Certificate.issued_at.desc()).limit(1))
    if organization_teryt is not None:
        q = q.where(Certificate.organization_teryt == organization_teryt)
    return session.execute(q).scalar_one_or_none()


def stale_pending(session: Session, before: dt.datetime) -> list[Certificate]:
    q = (select(Certificate).where(Certificate.status == "pending",
                                   Certificate.created_at < before).with_for_update())
    return list(session.execute(q).scalars())


def set_revocation(row: Certificate, status: str, at: dt.datetime | None, reason: str | None,
                   invalidity_date: dt.datetime | None) -> None:
    row.status, row.revoked_at = status, at
    row.revocation_reason, row.invalidity_date = reason, invalidity_date
