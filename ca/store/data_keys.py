"""The wrapped data keys of fields encrypted at rest (ca/field_crypto.py), and the rows a home
made before them still keeps in clear (what regca/sealed_fields.py seals): all their SQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.store.models import DataKey, Enrolment, User

__all__ = ["add", "get", "newest", "clear_totp_users", "clear_pesel_enrolments",
           "totp_users", "pesel_enrolments", "enrolments_by_person", "SEALED_TABLES"]

SEALED_TABLES = ("users", "enrolments")  # what sealing rewrites: compacted afterwards


def add(session: Session, kek_label: str, wrapped: bytes, at: dt.datetime) -> int:
    row = DataKey(kek_label=kek_label, wrapped=wrapped, created_at=at)
    session.add(row)
    session.flush()
    return row.id


def get(session: Session, key_id: int) -> DataKey | None:
    return session.get(DataKey, key_id)


def newest(session: Session) -> DataKey | None:
    return session.execute(select(DataKey).order_by(DataKey.id.desc()).limit(1)
                           ).scalar_one_or_none()


def clear_totp_users(session: Session, sealed_prefix: str) -> list[User]:
    """Users whose TOTP secret is not sealed, locked for the update that seals it."""
    q = (select(User).where(User.totp_secret.is_not(None),
                            User.totp_secret.not_like(f"{sealed_prefix}%"))
         .with_for_update())
    return list(session.execute(q).scalars())


def clear_pesel_enrolments(session: Session, sealed_prefix: str) -> list[Enrolment]:
    """Enrolments whose PESEL is not sealed, locked for the update that seals it."""
    q = (select(Enrolment).where(Enrolment.pesel_sealed.is_not(None),
                                 Enrolment.pesel_sealed.not_like(f"{sealed_prefix}%"))
         .with_for_update())
    return list(session.execute(q).scalars())


def totp_users(session: Session) -> list[User]:
    """Every user with a TOTP secret, locked for the update that seals it again."""
    q = select(User).where(User.totp_secret.is_not(None)).with_for_update()
    return list(session.execute(q).scalars())


def pesel_enrolments(session: Session) -> list[Enrolment]:
    """Every enrolment with a PESEL, locked for the update that seals it again."""
    q = select(Enrolment).where(Enrolment.pesel_sealed.is_not(None)).with_for_update()
    return list(session.execute(q).scalars())


def enrolments_by_person(session: Session, person_ref: str,
                         teryts: list[str] | None) -> list[Enrolment]:
    """The enrolments of one person, by the keyed reference of their PESEL; newest first."""
    q = select(Enrolment).where(Enrolment.person_ref == person_ref).order_by(Enrolment.id.desc())
    if teryts is not None:
        q = q.where(Enrolment.organization_teryt.in_(teryts))
    return list(session.execute(q).scalars())
