"""Staff log-ins of the enrollment web and what an administrator does to them (issue 17):
disable and enable, reset the password or the TOTP, change the role and JST. Passwords are
hashed with argon2id.

Every change that takes a right away or replaces a credential ends every session of that user
in the same transaction (``ra.sessions`` resumes none of them afterwards), and is audited with
the administrator as the actor.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from ca.audit import Event
from ca.errors import Conflict, Malformed, NotFound
from ca.store import accounts, web_sessions
from ca.store import organizations as org_store
from ca.store.models import User
from ra.authority import Reader, Recorder

__all__ = ["ROLES", "StaffMember", "create_user", "list_staff", "password_hasher",
           "staff_member", "validate_password", "password_matches", "disable_user", "enable_user",
           "reset_password", "reset_totp", "change_role"]

ROLES = ("administrator", "officer", "auditor")
MIN_PASSWORD = 12
password_hasher = PasswordHasher()


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Malformed(f"password: at least {MIN_PASSWORD} characters")


@functools.cache
def _decoy() -> str:
    """A hash no password matches, made once per process when first needed."""
    return password_hasher.hash(secrets.token_urlsafe(32))


def password_matches(password_hash: str | None, password: str | None) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from. With no hash (an unknown
    user, code or serial) a decoy is verified instead, so absence costs what a wrong password
    does and answers the same."""
    try:
        return (password_hasher.verify(password_hash or _decoy(), password or "")
                and password_hash is not None)
    except (VerificationError, InvalidHashError):
        return False


def _validate_role(s, role: str, organizations: list[str]) -> list[str]:
    """The role and the JST it acts for, as they will be stored: an officer acts for at least
    one JST the home serves; other roles for none."""
    if role not in ROLES:
        raise Malformed(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if role != "officer":
        return []
    organizations = sorted(set(organizations))
    if not organizations:
        raise Malformed("organizations: an officer acts for at least one JST")
    for teryt in organizations:
        if org_store.get(s, teryt) is None:
            raise Malformed(f"organizations: no JST with TERYT {teryt} is served here")
    return organizations


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
    disabled: bool = False
    must_change_password: bool = False
    totp_enrolled: bool = False


def list_staff(ra: Reader) -> list[StaffMember]:
    with ra.reading() as s:
        return [StaffMember(u.username, u.role, tuple(orgs), u.disabled_at is not None,
                            bool(u.must_change_password), u.totp_secret is not None)
                for u, orgs in accounts.staff(s)]


def staff_member(ra: Reader, username: str) -> StaffMember | None:
    return next((m for m in list_staff(ra) if m.username == username), None)


# -- the administrator's changes ------------------------------------------------------------

def _user(s, username: str) -> User:
    user = accounts.get_user(s, username)
    if user is None:
        raise NotFound(f"username: no staff member {username!r}")
    return user


def _not_yourself(username: str, actor: str, what: str) -> None:
    """An administrator cannot lock themselves out; another administrator can."""
    if actor == f"user:{username}":
        raise Conflict(f"username: you cannot {what} your own log-in")


def _done(ra: Recorder, s, actor: str, action: str, username: str, **details) -> int:
    """End every session of ``username`` and audit the change; the sessions ended."""
    ended = web_sessions.remove_of_user(s, username)
    ra.audit(s, Event(actor=actor, action=action, object=f"user:{username}",
                      details={**details, "sessions_ended": ended}))
    return ended


def disable_user(ra: Recorder, username: str, actor: str) -> None:
    """No log-in and no session from now on, until enabled again."""
    _not_yourself(username, actor, "disable")
    with ra.db.transaction() as s:
        user = _user(s, username)
        if user.disabled_at is not None:
            raise Conflict(f"username: {username!r} is already disabled")
        user.disabled_at = ra.now()
        _done(ra, s, actor, "user.disable", username)


def enable_user(ra: Recorder, username: str, actor: str) -> None:
    with ra.db.transaction() as s:
        user = _user(s, username)
        if user.disabled_at is None:
            raise Conflict(f"username: {username!r} is not disabled")
        user.disabled_at = None
        ra.audit(s, Event(actor=actor, action="user.enable", object=f"user:{username}"))


def reset_password(ra: Recorder, username: str, actor: str) -> str:
    """A temporary password, returned once for the administrator to hand over; the user
    chooses a new one right after logging in with it (and the second factor)."""
    temporary = secrets.token_urlsafe(12)
    hashed = password_hasher.hash(temporary)  # before the write lock: argon2id takes a while
    with ra.db.transaction() as s:
        user = _user(s, username)
        user.password_hash = hashed
        user.must_change_password = True
        _done(ra, s, actor, "user.password_reset", username)
    return temporary


def reset_totp(ra: Recorder, username: str, actor: str) -> None:
    """The second factor is forgotten: the next log-in sets up a new one, as the first did."""
    with ra.db.transaction() as s:
        user = _user(s, username)
        user.totp_secret = None
        _done(ra, s, actor, "user.totp_reset", username)


def change_role(ra: Recorder, username: str, role: str, organizations: list[str],
                actor: str) -> None:
    """A new role and JST scope; the user logs in again to act with them."""
    _not_yourself(username, actor, "change the role of")
    with ra.db.transaction() as s:
        user = _user(s, username)
        organizations = _validate_role(s, role, list(organizations))
        before = {"role": user.role,
                  "organizations": sorted(accounts.user_organizations(s, username))}
        user.role = role
        accounts.set_user_organizations(s, username, organizations)
        _done(ra, s, actor, "user.role_change", username, role=role,
              organizations=organizations, before=before)
