"""API keys and staff users."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ca.store.models import ApiKey, User, UserOrganization

__all__ = ["add_api_key", "get_api_key", "api_keys", "revoke_api_key", "mark_api_key_used",
           "add_user", "get_user", "user_organizations", "set_user_organizations", "staff"]


def add_api_key(session: Session, key: ApiKey) -> None:
    session.add(key)
    session.flush()


def get_api_key(session: Session, key_id: str) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def api_keys(session: Session, include_revoked: bool = False) -> list[ApiKey]:
    q = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        q = q.where(ApiKey.revoked_at.is_(None))
    return list(session.execute(q).scalars())


def revoke_api_key(session: Session, key_id: str, at: dt.datetime) -> bool:
    """Mark the key revoked at ``at``; False if it was already (or does not exist)."""
    done = session.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                           .values(revoked_at=at))
    return done.rowcount == 1


def mark_api_key_used(session: Session, key_id: str, at: dt.datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))


def add_user(session: Session, user: User, organizations: list[str]) -> None:
    session.add(user)
    session.flush()
    for teryt in organizations:
        session.add(UserOrganization(username=user.username, teryt=teryt))
    session.flush()


def get_user(session: Session, username: str) -> User | None:
    return session.get(User, username)


def user_organizations(session: Session, username: str) -> list[str]:
    q = select(UserOrganization.teryt).where(UserOrganization.username == username)
    return list(session.execute(q).scalars())


def set_user_organizations(session: Session, username: str, organizations: list[str]) -> None:
    """The JST a user acts for become exactly ``organizations``."""
    session.execute(delete(UserOrganization).where(UserOrganization.username == username))
    for teryt in organizations:
        session.add(UserOrganization(username=username, teryt=teryt))
    session.flush()


def staff(session: Session) -> list[tuple[User, list[str]]]:
    """Every staff log-in with the JST it acts for, by user name."""
    scopes: dict[str, list[str]] = {}
    for username, teryt in session.execute(select(UserOrganization.username,
                                                  UserOrganization.teryt)):
        scopes.setdefault(username, []).append(teryt)
    return [(user, sorted(scopes.get(user.username, [])))
            for user in session.execute(select(User).order_by(User.username)).scalars()]
