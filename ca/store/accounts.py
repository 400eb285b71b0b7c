"""API keys and staff users."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.store.models import ApiKey, User, UserOrganization

__all__ = ["add_api_key", "get_api_key", "add_user", "get_user", "user_organizations",
           "StaffLogin", "users_and_scopes"]


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


class StaffLogin(NamedTuple):
    username: str
    role: str


def users_and_scopes(session: Session) -> tuple[list[StaffLogin], dict[str, list[str]]]:
    """Every staff log-in by name, and each officer's JST."""
    users = [StaffLogin(*r) for r in session.execute(select(User.username, User.role)
                                                     .order_by(User.username))]
    scopes: dict[str, list[str]] = {}
    for username, teryt in session.execute(select(UserOrganization.username,
                                                  UserOrganization.teryt)):
        scopes.setdefault(username, []).append(teryt)
    return users, scopes
