"""Service certificate generations: the only module that writes ``service_certificates``.

A service (role ``ocsp``, ``tsa``, ``seal``; per JST with ``scope`` = its TERYT) has one active
generation, the key and certificate every worker signs with, and the earlier ones, kept so
that what they signed can still be validated (ca/rollover.py). ``activate`` is the one writer:
it makes a generation the active one and appends its audit event in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ca.audit import Event
from ca.store import audit as audit_store
from ca.store.models import Certificate, ServiceCertificate

__all__ = ["Generation", "active", "generations", "next_generation", "activate"]


class Generation(NamedTuple):
    """One generation as services use it: which key (``key_label``/``key_id`` None: the one
    regca.toml derives, ``KeyConfig.generation``) and which certificate (``der``)."""

    role: str
    scope: str
    generation: int
    serial: str
    key_label: str | None
    key_id: str | None
    not_after: dt.datetime
    active: bool
    created_at: dt.datetime
    der: bytes


_COLUMNS = (ServiceCertificate.role, ServiceCertificate.scope, ServiceCertificate.generation,
            ServiceCertificate.serial, ServiceCertificate.key_label, ServiceCertificate.key_id,
            ServiceCertificate.not_after, ServiceCertificate.active,
            ServiceCertificate.created_at, Certificate.der)


def _select():
    return select(*_COLUMNS).join(Certificate, Certificate.serial == ServiceCertificate.serial)


def active(session: Session, role: str, scope: str = "") -> Generation | None:
    """The generation of ``role`` (for ``scope``) that signs now, or None."""
    row = session.execute(_select().where(ServiceCertificate.role == role,
                                          ServiceCertificate.scope == scope,
                                          ServiceCertificate.active.is_(True))).first()
    return Generation(*row) if row else None


def generations(session: Session, role: str | None = None, scope: str | None = None
                ) -> list[Generation]:
    """Every generation (of ``role``, of ``scope``), oldest first."""
    q = _select().order_by(ServiceCertificate.role, ServiceCertificate.scope,
                           ServiceCertificate.generation)
    if role is not None:
        q = q.where(ServiceCertificate.role == role)
    if scope is not None:
        q = q.where(ServiceCertificate.scope == scope)
    return [Generation(*row) for row in session.execute(q)]


def next_generation(session: Session, role: str, scope: str = "") -> int:
    last = session.execute(select(func.max(ServiceCertificate.generation)).where(
        ServiceCertificate.role == role, ServiceCertificate.scope == scope)).scalar()
    return (last or 0) + 1


def activate(session: Session, role: str, scope: str, generation: int, serial: str,
             key_label: str | None, key_id: str | None, not_after: dt.datetime,
             event: Event, at: dt.datetime) -> None:
    """Record ``generation`` as the active one of ``role``/``scope`` (the others inactive) and
    append ``event``, in the caller's transaction. A generation number already taken (another
    rollover of the same service won) fails with IntegrityError at the flush."""
    session.execute(update(ServiceCertificate)
                    .where(ServiceCertificate.role == role, ServiceCertificate.scope == scope)
                    .values(active=False))
    session.add(ServiceCertificate(role=role, scope=scope, generation=generation, serial=serial,
                                   key_label=key_label, key_id=key_id, not_after=not_after,
                                   active=True, created_at=at))
    session.flush()
    audit_store.append(session, event, at)
