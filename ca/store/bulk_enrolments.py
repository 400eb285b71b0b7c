"""The SQL of a bulk staff import: who is already enrolled, and many enrolments in one go."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.store.models import Enrolment

__all__ = ["enrolled_staff", "add_all"]


def enrolled_staff(session: Session, teryts: list[str]) -> set[tuple[str, str]]:
    """``(teryt, pesel)`` of every staff enrolment of these JST: one query for a whole file."""
    if not teryts:
        return set()
    q = (select(Enrolment.organization_teryt, Enrolment.pesel)
         .where(Enrolment.kind == "staff", Enrolment.pesel.is_not(None),
                Enrolment.organization_teryt.in_(teryts)))
    return {(t, p) for t, p in session.execute(q)}


def add_all(session: Session, enrolments: list[Enrolment]) -> list[Enrolment]:
    session.add_all(enrolments)
    session.flush()
    return enrolments
