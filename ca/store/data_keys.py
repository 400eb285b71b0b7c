"""The wrapped data keys of fields encrypted at rest (ca/field_crypto.py), and the rows a home
made before them still keeps in clear (what regca/sealed_fields.py seals): all their SQL."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select

from ca.store import tables
from ca.store.db import Database

if TYPE_CHECKING:  # the ORM's rows; the data keys' reads run on Core (`regca issue` seals)
    from sqlalchemy.engine import Row
    from sqlalchemy.orm import Session

    from ca.store.models import Enrolment, User

__all__ = ["add", "get", "newest", "clear_totp_users", "clear_pesel_enrolments",
           "totp_users", "pesel_enrolments", "enrolments_by_person", "SEALED_TABLES"]

# what sealing rewrites: compacted afterwards
SEALED_TABLES = ("users", "enrolments", "certificates")


_KEYS = tables.data_keys
_GET = select(_KEYS).where(_KEYS.c.id == bindparam("p_id"))
_NEWEST = select(_KEYS).order_by(_KEYS.c.id.desc()).limit(1)


def add(session: Session, kek_label: str, wrapped: bytes, at: dt.datetime) -> int:
    from ca.store.models import DataKey
    row = DataKey(kek_label=kek_label, wrapped=wrapped, created_at=at)
    session.add(row)
    session.flush()
    return row.id


def get(db: Database, key_id: int) -> Row | None:
    """The data key ``key_id`` (id, kek_label, wrapped, created_at), read without the ORM
    (`regca issue` seals a certificate naming a PESEL)."""
    with db.reading_connection() as conn:
        return conn.execute(_GET, {"p_id": key_id}).first()


def newest(db: Database) -> Row | None:
    with db.reading_connection() as conn:
        return conn.execute(_NEWEST).first()


def clear_totp_users(session: Session, sealed_prefix: str) -> list[User]:
    """Users whose TOTP secret is not sealed, locked for the update that seals it."""
    from ca.store.models import User
    q = (select(User).where(User.totp_secret.is_not(None),
                            User.totp_secret.not_like(f"{sealed_prefix}%"))
         .with_for_update())
    return list(session.execute(q).scalars())


def clear_pesel_enrolments(session: Session, sealed_prefix: str) -> list[Enrolment]:
    """Enrolments whose PESEL is not sealed, locked for the update that seals it."""
    from ca.store.models import Enrolment
    q = (select(Enrolment).where(Enrolment.pesel_sealed.is_not(None),
                                 Enrolment.pesel_sealed.not_like(f"{sealed_prefix}%"))
         .with_for_update())
    return list(session.execute(q).scalars())


def totp_users(session: Session) -> list[User]:
    """Every user with a TOTP secret, locked for the update that seals it again."""
    from ca.store.models import User
    q = select(User).where(User.totp_secret.is_not(None)).with_for_update()
    return list(session.execute(q).scalars())


def pesel_enrolments(session: Session) -> list[Enrolment]:
    """Every enrolment with a PESEL, locked for the update that seals it again."""
    from ca.store.models import Enrolment
    q = select(Enrolment).where(Enrolment.pesel_sealed.is_not(None)).with_for_update()
    return list(session.execute(q).scalars())


def enrolments_by_person(session: Session, person_ref: str,
                         teryts: list[str] | None) -> list[Enrolment]:
    """The enrolments of one person, by the keyed reference of their PESEL; newest first."""
    from ca.store.models import Enrolment
    q = select(Enrolment).where(Enrolment.person_ref == person_ref).order_by(Enrolment.id.desc())
    if teryts is not None:
        q = q.where(Enrolment.organization_teryt.in_(teryts))
    return list(session.execute(q).scalars())
