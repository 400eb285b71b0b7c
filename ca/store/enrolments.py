"""Enrolments, their certificates, the token registry and log-in state: all their SQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.store.models import (
    AuditEvent,
    Certificate,
    Enrolment,
    EnrolmentCertificate,
    LoginState,
    Token,
    TokenCertificate,
)

__all__ = ["add", "get", "by_pickup_hash", "link_certificate", "certificates_of",
           "enrolment_of_certificate", "add_token", "get_token", "tokens_of", "link_token",
           "token_certificates", "login_state", "serials_of_profile",
           "search_events", "count_events", "find", "token_page",
           "EnrolmentQuery", "certificate_page"]


def add(session: Session, enrolment: Enrolment) -> Enrolment:
    session.add(enrolment)
    session.flush()
    return enrolment


def get(session: Session, enrolment_id: int, for_update: bool = False) -> Enrolment | None:
    q = select(Enrolment).where(Enrolment.id == enrolment_id)
    if for_update:
        q = q.with_for_update()
    return session.execute(q).scalar_one_or_none()


def by_pickup_hash(session: Session, digest: str) -> Enrolment | None:
    q = select(Enrolment).where(Enrolment.pickup_code_hash == digest).with_for_update()
    return session.execute(q).scalar_one_or_none()


class EnrolmentQuery:
    """What an officer searches by (any one): a name's words, a PESEL (by its keyed
    reference: the PESEL itself is sealed), a serial, a token label."""

    def __init__(self, words: list[str] | None = None, person_ref: str | None = None,
                 serial: str | None = None, token_label: str | None = None):
        self.words, self.person_ref = words or [], person_ref
        self.serial, self.token_label = serial, token_label


def find(session: Session, teryts: list[str] | None, q: EnrolmentQuery, offset: int,
         limit: int) -> tuple[list[Enrolment], int]:
    """One page of the matching enrolments, newest first, and how many match in all."""
    conds = []
    if teryts is not None:
        conds.append(Enrolment.organization_teryt.in_(teryts))
    if q.person_ref:
        conds.append(Enrolment.person_ref == q.person_ref)
    if q.serial:
        conds.append(Enrolment.id.in_(select(EnrolmentCertificate.enrolment_id)
                                      .where(EnrolmentCertificate.serial == q.serial)))
    label = select(Token.enrolment_id).where(func.lower(Token.label) == (q.token_label or "")
                                             .lower())
    if q.words:
        name = and_(*[or_(func.lower(Enrolment.given_name).contains(w.lower(), autoescape=True),
                          func.lower(Enrolment.surname).contains(w.lower(), autoescape=True))
                      for w in q.words])
        conds.append(or_(name, Enrolment.id.in_(label)) if q.token_label else name)
    elif q.token_label:
        conds.append(Enrolment.id.in_(label))
    total = session.execute(select(func.count()).select_from(Enrolment).where(*conds)
                            ).scalar_one()
    rows = session.execute(select(Enrolment).where(*conds).order_by(Enrolment.id.desc())
                           .offset(offset).limit(limit)).scalars()
    return list(rows), total


def token_page(session: Session, teryts: list[str] | None, offset: int, limit: int
               ) -> tuple[list[tuple[Token, Enrolment]], int]:
    """One page of the token registry with each holder, newest first, and the total."""
    conds = [Token.organization_teryt.in_(teryts)] if teryts is not None else []
    total = session.execute(select(func.count()).select_from(Token).where(*conds)).scalar_one()
    rows = session.execute(select(Token, Enrolment).join(Enrolment, Enrolment.id ==
                                                          Token.enrolment_id)
                           .where(*conds).order_by(Token.id.desc()).offset(offset)
                           .limit(limit)).all()
    return [(tk, e) for tk, e in rows], total


def certificate_page(session: Session, *, teryts: list[str] | None, desk_only: bool,
                     with_pending: bool, offset: int, limit: int
                     ) -> tuple[list[tuple[Certificate, int | None]], int]:
    """One page of certificates, newest first, each with its enrolment (None: not issued at
    the desk), and the total; narrowed the way ``ra.access`` narrows one caller's view."""
    conds = []
    if teryts is not None:
        conds.append(Certificate.organization_teryt.in_(teryts))
    if desk_only:
        conds.append(EnrolmentCertificate.enrolment_id.is_not(None))
    if not with_pending:
        conds.append(Certificate.status != "pending")
    base = select(Certificate, EnrolmentCertificate.enrolment_id).outerjoin(
        EnrolmentCertificate, EnrolmentCertificate.serial == Certificate.serial).where(*conds)
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = session.execute(base.order_by(Certificate.created_at.desc(), Certificate.serial)
                           .offset(offset).limit(limit)).all()
    return [(row, enrolment_id) for row, enrolment_id in rows], total


def link_certificate(session: Session, enrolment_id: int, serial: str) -> None:
    session.add(EnrolmentCertificate(enrolment_id=enrolment_id, serial=serial))
    session.flush()


def certificates_of(session: Session, enrolment_id: int) -> list[Certificate]:
    q = (select(Certificate).join(EnrolmentCertificate,
                                  EnrolmentCertificate.serial == Certificate.serial)
         .where(EnrolmentCertificate.enrolment_id == enrolment_id)
         .order_by(Certificate.created_at))
    return list(session.execute(q).scalars())


def enrolment_of_certificate(session: Session, serial: str) -> Enrolment | None:
    q = (select(Enrolment).join(EnrolmentCertificate,
                                EnrolmentCertificate.enrolment_id == Enrolment.id)
         .where(EnrolmentCertificate.serial == serial))
    return session.execute(q).scalar_one_or_none()


def add_token(session: Session, token: Token) -> Token:
    session.add(token)
    session.flush()
    return token


def get_token(session: Session, token_id: int, for_update: bool = False) -> Token | None:
    q = select(Token).where(Token.id == token_id)
    if for_update:
        q = q.with_for_update()
    return session.execute(q).scalar_one_or_none()


def tokens_of(session: Session, enrolment_id: int) -> list[Token]:
    q = select(Token).where(Token.enrolment_id == enrolment_id).order_by(Token.id)
    return list(session.execute(q).scalars())


def link_token(session: Session, token_id: int, serial: str) -> None:
    session.add(TokenCertificate(token_id=token_id, serial=serial))
    session.flush()


def token_certificates(session: Session, token_id: int) -> list[Certificate]:
    q = (select(Certificate).join(TokenCertificate, TokenCertificate.serial == Certificate.serial)
         .where(TokenCertificate.token_id == token_id))
    return list(session.execute(q).scalars())


def login_state(session: Session, username: str, create: bool = True) -> LoginState | None:
    """The user's row, locked; made on first need. Two first failures at once (PostgreSQL)
    race on the insert: the loser's savepoint rolls back and it takes the winner's row."""
    q = select(LoginState).where(LoginState.username == username).with_for_update()
    state = session.execute(q).scalar_one_or_none()
    if state is None and create:
        try:
            with session.begin_nested():
                state = LoginState(username=username, failures=0, locked_until=None)
                session.add(state)
        except IntegrityError:
            state = session.execute(q).scalar_one()
    return state


def serials_of_profile(session: Session, profile: str) -> list[str]:
    q = select(Certificate.serial).where(Certificate.profile == profile)
    return list(session.execute(q).scalars())


def _event_conditions(*, teryt: str | None = None, actor: str | None = None,
                      action: str | None = None, object_prefix: str | None = None,
                      since: dt.datetime | None = None, until: dt.datetime | None = None,
                      serials: list[str] | None = None, details_any: list[str] | None = None
                      ) -> list:
    q = _Conditions()
    if teryt:
        q = q.where(AuditEvent.organization_teryt == teryt)
    if actor:
        q = q.where(AuditEvent.actor == actor)
    if action:
        q = q.where(AuditEvent.action == action)
    if object_prefix:
        q = q.where(AuditEvent.object.startswith(object_prefix))
    if since:
        q = q.where(AuditEvent.at >= since)
    if until:
        q = q.where(AuditEvent.at < until)
    if serials is not None:
        q = q.where(AuditEvent.object.in_([f"certificate:{s}" for s in serials]))
    if details_any:
        q = q.where(or_(*[AuditEvent.details.contains(t, autoescape=True)
                          for t in details_any]))
    return q.conds


class _Conditions:
    """Collects WHERE conditions the way a select does (``.where``)."""

    def __init__(self):
        self.conds: list = []

    def where(self, cond) -> _Conditions:
        self.conds.append(cond)
        return self


def search_events(session: Session, *, offset: int = 0, limit: int | None = None,
                  **filters) -> list[AuditEvent]:
    """The audit log, newest first, narrowed by the auditor's filters (``_event_conditions``;
    ``details_any``: events whose details contain one of these texts, a person's keyed PESEL
    reference); ``limit`` None: every match (the export is never cut)."""
    q = (select(AuditEvent).where(*_event_conditions(**filters))
         .order_by(AuditEvent.seq.desc()).offset(offset))
    if limit is not None:
        q = q.limit(limit)
    return list(session.execute(q).scalars())


def count_events(session: Session, **filters) -> int:
    return session.execute(select(func.count()).select_from(AuditEvent)
                           .where(*_event_conditions(**filters))).scalar_one()
