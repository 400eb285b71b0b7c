"""Staff log-ins of the enrollment web; passwords are hashed with argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher

from ca.audit import Event
from ca.context import CaContext
from ca.errors import Malformed
from ca.store import accounts
from ca.store.models import User

__all__ = ["ROLES", "create_user", "password_hasher"]

ROLES = ("administrator", "officer", "auditor")
password_hasher = PasswordHasher()


def create_user(ctx: CaContext, username: str, password: str, role: str,
                organizations: list[str] = (), actor: str = "operator") -> None:
    if role not in ROLES:
        raise Malformed(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < 12:
        raise Malformed("password: at least 12 characters")
    with ctx.db.transaction() as s:
        accounts.add_user(s, User(username=username, password_hash=password_hasher.hash(password),
                                  role=role, created_at=ctx.now()), list(organizations))
        ctx.audit(s, Event(actor=actor, action="user.create", object=f"user:{username}",
                           details={"role": role, "organizations": list(organizations)}))
