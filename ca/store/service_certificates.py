"""Service certificate generations: the only module that writes ``service_certificates``.

A service (role ``ocsp``, ``tsa``, ``seal``; per JST with ``scope`` = its TERYT) has one active
generation, the key and certificate every worker signs with, and the earlier ones, kept so
that what they signed can still be validated (ca/rollover.py). ``activate`` is the one writer:
it makes a generation the active one and appends its audit event in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import func, select, update

from ca.audit import Event
from ca.store import audit as audit_store
from ca.store import tables

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ca.store.db import Database

__all__ = ["Generation", "active", "active_in", "generations", "generations_in",
           "next_generation", "activate"]


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


_SC, _CERTS = tables.service_certificates, tables.certificates
_COLUMNS = (_SC.c.role, _SC.c.scope, _SC.c.generation, _SC.c.serial, _SC.c.key_label,
            _SC.c.key_id, _SC.c.not_after, _SC.c.active, _SC.c.created_at, _CERTS.c.der)


def _select():
    return select(*_COLUMNS).join(_CERTS, _CERTS.c.serial == _SC.c.serial)


def active(session: Session, role: str, scope: str = "") -> Generation | None:
    """The generation of ``role`` (for ``scope``) that signs now, or None."""
    row = session.execute(_select().where(_SC.c.role == role,
                                          _SC.c.scope == scope,
                                          _SC.c.active.is_(True))).first()
    return Generation(*row) if row else None


def active_in(db: Database, role: str, scope: str = "") -> Generation | None:
    """``active`` on a Core connection of its own: what every worker's key asks every few
    seconds, and `regca issue` (which loads no ORM) once."""
    with db.reading_connection() as conn:
        return active(conn, role, scope)


def generations(session: Session, role: str | None = None, scope: str | None = None
                ) -> list[Generation]:
    """Every generation (of ``role``, of ``scope``), oldest first."""
    q = _select().order_by(_SC.c.role, _SC.c.scope,
                           _SC.c.generation)
    if role is not None:
        q = q.where(_SC.c.role == role)
    if scope is not None:
        q = q.where(_SC.c.scope == scope)
    return [Generation(*row) for row in session.execute(q)]


def generations_in(db: Database, role: str, scope: str = "") -> list[Generation]:
    """``generations`` of one role on a Core connection of its own: what every worker's view
    of the issuing CA's generations asks every few seconds (ca/issuing_cas.py)."""
    with db.reading_connection() as conn:
        return generations(conn, role, scope)


def next_generation(session: Session, role: str, scope: str = "") -> int:
    last = session.execute(select(func.max(_SC.c.generation)).where(
        _SC.c.role == role, _SC.c.scope == scope)).scalar()
    return (last or 0) + 1


def activate(session: Session, role: str, scope: str, generation: int, serial: str,
             key_label: str | None, key_id: str | None, not_after: dt.datetime,
             event: Event, at: dt.datetime) -> None:
    """Record ``generation`` as the active one of ``role``/``scope`` (the others inactive) and
    append ``event``, in the caller's transaction. A generation number already taken (another
    rollover of the same service won) fails with IntegrityError."""
    session.execute(update(_SC)
                    .where(_SC.c.role == role, _SC.c.scope == scope)
                    .values(active=False))
    session.execute(_SC.insert().values(
        role=role, scope=scope, generation=generation, serial=serial, key_label=key_label,
        key_id=key_id, not_after=not_after, active=True, created_at=at))
    audit_store.append(session, event, at)
