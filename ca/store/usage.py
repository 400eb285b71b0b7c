"""What the centre did for each JST in a period, read for the usage report and the quotas:
certificates issued and revoked, seal events, verifications and time-stamps by JST keys."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ca.store.models import ApiKey, AuditEvent, Certificate, TimestampToken

__all__ = ["certificates_per_profile", "events_of", "count_events", "tokens_per_requester",
           "api_key_organizations"]


def certificates_per_profile(session: Session, column: str, start: dt.datetime,
                             end: dt.datetime) -> list[tuple[str | None, str, int]]:
    """``(JST, profile, count)`` of the certificates whose ``column`` (``issued_at`` or
    ``revoked_at``) falls in ``[start, end)``."""
    when = {"issued_at": Certificate.issued_at, "revoked_at": Certificate.revoked_at}[column]
    q = (select(Certificate.organization_teryt, Certificate.profile, func.count())
         .where(when >= start, when < end)
         .group_by(Certificate.organization_teryt, Certificate.profile))
    return [tuple(r) for r in session.execute(q)]


def events_of(session: Session, actions: tuple[str, ...], start: dt.datetime,
              end: dt.datetime, outcome: str = "success",
              teryt: str | None = None) -> list[tuple[str | None, str, dict]]:
    """``(JST, action, details)`` of the audit events with one of ``actions`` and ``outcome``
    in ``[start, end)``; of one JST's only, given ``teryt``."""
    q = (select(AuditEvent.organization_teryt, AuditEvent.action, AuditEvent.details)
         .where(AuditEvent.action.in_(actions), AuditEvent.outcome == outcome,
                AuditEvent.at >= start, AuditEvent.at < end))
    if teryt is not None:
        q = q.where(AuditEvent.organization_teryt == teryt)
    return [(teryt, action, json.loads(details)) for teryt, action, details
            in session.execute(q)]


def count_events(session: Session, teryt: str, actions: tuple[str, ...], start: dt.datetime,
                 end: dt.datetime, outcome: str = "success") -> int:
    """How many events of one JST with one of ``actions`` and ``outcome`` in ``[start, end)``."""
    q = (select(func.count()).select_from(AuditEvent)
         .where(AuditEvent.organization_teryt == teryt, AuditEvent.action.in_(actions),
                AuditEvent.outcome == outcome, AuditEvent.at >= start, AuditEvent.at < end))
    return int(session.execute(q).scalar_one())


def tokens_per_requester(session: Session, start: dt.datetime,
                         end: dt.datetime) -> dict[str, int]:
    """Time-stamp tokens issued in ``[start, end)`` per requester (``apikey:<id>``, ``ip:...``)."""
    q = (select(TimestampToken.requester, func.count())
         .where(TimestampToken.gen_time >= start, TimestampToken.gen_time < end)
         .group_by(TimestampToken.requester))
    return {requester: int(n) for requester, n in session.execute(q)}


def api_key_organizations(session: Session) -> dict[str, str | None]:
    """Every API key's id and the JST it is bound to."""
    return dict(session.execute(select(ApiKey.id, ApiKey.organization_teryt)).all())
