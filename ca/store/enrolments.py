"""Enrolments, their certificates, the token registry and log-in state: all their SQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
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

__all__ = ["add", "get", "by_pickup_hash", "list_for", "link_certificate", "certificates_of",
           "enrolment_of_certificate", "add_token", "get_token", "tokens_of", "link_token",
           "token_certificates", "list_tokens", "login_state", "serials_of_profile",
           "search_events"]


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


def list_for(session: Session, teryts: list[str] | None, limit: int = 200) -> list[Enrolment]:
    """Newest first; ``teryts`` None means every JST (auditors, administrators)."""
    q = select(Enrolment).order_by(Enrolment.id.desc()).limit(limit)
    if teryts is not None:
        q = q.where(Enrolment.organization_teryt.in_(teryts))
    return list(session.execute(q).scalars())


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


def list_tokens(session: Session, teryts: list[str] | None, limit: int = 200) -> list[Token]:
    q = select(Token).order_by(Token.id.desc()).limit(limit)
    if teryts is not None:
        q = q.where(Token.organization_teryt.in_(teryts))
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


def search_events(session: Session, *, teryt: str | None = None, actor: str | None = None,
                  action: str | None = None, object_prefix: str | None = None,
                  since: dt.datetime | None = None, until: dt.datetime | None = None,
                  serials: list[str] | None = None, details_any: list[str] | None = None,
                  limit: int = 500) -> list[AuditEvent]:
    """The audit log, newest first, narrowed by the auditor's filters; ``details_any``: events
    whose details contain one of these texts (a person's keyed PESEL reference)."""
    q = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
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
    return list(session.execute(q).scalars())
