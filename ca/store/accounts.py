"""API keys and staff users."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.store.models import ApiKey, User, UserOrganization

__all__ = ["add_api_key", "get_api_key", "add_user", "get_user", "user_organizations"]


def add_api_key(session: Session, key: ApiKey) -> None:
    session.add(key)
    session.flush()


def get_api_key(session: Session, key_id: str) -> ApiKey | None:
    return session.get(ApiKey, key_id)


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
