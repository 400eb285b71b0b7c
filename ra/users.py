"""Staff log-ins of the enrollment web; passwords are hashed with argon2id."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from ca.audit import Event
from ca.errors import Conflict, Malformed
from ca.store import accounts
from ca.store.models import User
from ra.authority import Reader, Recorder

__all__ = ["ROLES", "StaffMember", "create_user", "list_staff", "password_hasher",
           "validate_password", "password_matches"]

ROLES = ("administrator", "officer", "auditor")
MIN_PASSWORD = 12
password_hasher = PasswordHasher()


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Malformed(f"password: at least {MIN_PASSWORD} characters")


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(ra: Recorder, username: str, password: str, role: str,
                organizations: list[str] = (), actor: str = "operator") -> None:
    if role not in ROLES:
        raise Malformed(f"role: {role!r} is not one of {', '.join(ROLES)}")
    validate_password(password)
    try:
        with ra.db.transaction() as s:
            if accounts.get_user(s, username) is not None:
                raise Conflict(f"username: {username!r} is taken")
            accounts.add_user(s, User(username=username,
                                      password_hash=password_hasher.hash(password),
                                      role=role, created_at=ra.now()), list(organizations))
            ra.audit(s, Event(actor=actor, action="user.create", object=f"user:{username}",
                               details={"role": role, "organizations": list(organizations)}))
    except IntegrityError:  # taken by a concurrent request since the check above
        raise Conflict(f"username: {username!r} is taken") from None


@dataclass(frozen=True)
class StaffMember:
    username: str
    role: str
    organizations: tuple[str, ...]


def list_staff(ra: Reader) -> list[StaffMember]:
    with ra.reading() as s:
        return [StaffMember(u, r, tuple(o)) for u, r, o in accounts.staff(s)]
