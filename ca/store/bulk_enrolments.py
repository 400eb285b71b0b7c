"""The SQL of a bulk staff import: who is already enrolled, and many enrolments in one go."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.store.models import Enrolment

__all__ = ["enrolled_staff", "add_all"]


def enrolled_staff(session: Session, teryts: list[str]) -> list[tuple[int, str, str]]:
    """``(id, teryt, sealed pesel)`` of every staff enrolment of these JST with a PESEL: one
    query for a whole file (the RA opens the PESELs, ca/field_crypto.py)."""
    if not teryts:
        return []
    q = (select(Enrolment.id, Enrolment.organization_teryt, Enrolment.pesel_sealed)
         .where(Enrolment.kind == "staff", Enrolment.pesel_sealed.is_not(None),
                Enrolment.organization_teryt.in_(teryts)))
    return [(i, t, p) for i, t, p in session.execute(q)]


def add_all(session: Session, enrolments: list[Enrolment]) -> list[Enrolment]:
    session.add_all(enrolments)
    session.flush()
    return enrolments
