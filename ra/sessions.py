"""Server-side sessions of the enrollment web (issue 17): who is signed in is the store's word,
never the cookie's.

The visitor's cookie carries a random 256-bit token; the store keeps only its SHA-256, so a
copy of the database opens no session. Every request resumes its session here, which makes
ending one a matter of deleting rows: a log-out, a password or TOTP reset, disabling a user and
a change of role or JST end every session of that person at once, in the transaction that makes
the change (``ra.users``). A session also ends after ``Lifetimes.idle`` without a request and
``Lifetimes.absolute`` after it began, on the injected clock.

A staff session goes through stages: ``totp`` (the password was right) or ``totp_setup`` (no
second factor yet: the new secret waits in the row, sealed like the users' own, never in the
cookie), then ``new_password`` when an administrator reset the password, then ``ok``. A
resident's session is ``resident`` from the pickup code on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from ca.audit import Event
from ca.errors import Malformed, Unauthorized
from ca.field_crypto import Place
from ca.store import accounts
from ca.store import organizations as org_store
from ca.store import web_sessions as store
from ca.store.models import WebSession
from ra.authority import RegistrationAuthority
from ra.logins import start_totp
from ra.users import password_hasher, password_matches, validate_password

__all__ = ["Lifetimes", "SessionState", "WebSessions", "SIGNED_IN"]

SIGNED_IN = ("ok", "resident")
# "Last seen" is written at most this often: a page view is a read, not a write, and the idle
# lifetime is kept to this precision.
_TOUCH_PRECISION = dt.timedelta(minutes=1)
_WRONG = "wrong user name or password"  # the same words as ra.logins for a wrong password


@dataclass(frozen=True)
class Lifetimes:
    """How long a session lasts: ``idle`` without a request, ``absolute`` in all."""

    idle: dt.timedelta = dt.timedelta(minutes=30)
    absolute: dt.timedelta = dt.timedelta(hours=8)

    def __post_init__(self):
        if self.idle <= dt.timedelta(0) or self.absolute <= dt.timedelta(0):
            raise ValueError("session lifetimes must be positive")
        if self.idle > self.absolute:
            raise ValueError("the idle lifetime cannot exceed the absolute one")


@dataclass(frozen=True)
class SessionState:
    """A session as the pages see it: whose, at which stage, with the role and JST the store
    holds now (not those of the log-in)."""

    username: str | None
    role: str  # a staff role, or "resident"
    organizations: tuple[str, ...]
    stage: str
    enrolment: int | None = None
    pending_totp: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.stage in SIGNED_IN


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _pending_totp_of(token_hash: str) -> Place:
    """Where a TOTP secret being set up waits: sealed like the users' (ca/field_crypto.py), so
    a copy of the database does not reveal it either."""
    return Place("web_sessions", "pending_totp", token_hash)


class WebSessions:
    """The sessions of one web front, on the registration authority's store and clock."""

    def __init__(self, ra: RegistrationAuthority, lifetimes: Lifetimes | None = None):
        self._ra = ra
        self.lifetimes = lifetimes or Lifetimes()

    # -- beginning ---------------------------------------------------------------------------

    def open_staff(self, username: str) -> str:
        """After a right password: a new session at the next stage; returns its token. A
        disabled user gets the answer of a wrong password (and the audit log the truth)."""
        token, now = secrets.token_urlsafe(32), self._ra.now()
        key = _digest(token)
        with self._ra.db.reading() as s:
            user = accounts.get_user(s, username)
            needs_totp = user is not None and user.totp_secret is None
        # sealed before the write lock, and only for a set-up: a log-in with a TOTP already set
        # up needs no data key until its code is checked
        pending = self._ra.fields.seal(start_totp(), _pending_totp_of(key)) if needs_totp \
            else None
        with self._ra.db.transaction() as s:
            user = accounts.get_user(s, username)
            refused = user is None or user.disabled_at is not None
            if refused:
                self._ra.audit(s, Event(actor=f"user:{username}", action="login",
                                        object=f"user:{username}", outcome="failure",
                                        details={"reason": "disabled"}))
            else:
                self._sweep(s, now)
                if user.totp_secret is None and pending is None:  # reset since the read
                    pending = self._ra.fields.seal(start_totp(), _pending_totp_of(key))
                enrolled = user.totp_secret is not None
                store.add(s, WebSession(token_hash=key, username=username,
                                        stage="totp" if enrolled else "totp_setup",
                                        pending_totp=None if enrolled else pending,
                                        created_at=now, last_seen_at=now))
        if refused:
            raise Unauthorized(_WRONG)
        return token

    def open_resident(self, enrolment_id: int) -> str:
        """After a redeemed pickup code: a session bound to that enrolment; returns its token."""
        token, now = secrets.token_urlsafe(32), self._ra.now()
        with self._ra.db.transaction() as s:
            self._sweep(s, now)
            store.add(s, WebSession(token_hash=_digest(token), enrolment_id=enrolment_id,
                                    stage="resident", created_at=now, last_seen_at=now))
        return token

    def _sweep(self, s, now: dt.datetime) -> None:
        """Rows no request can resume any more go when a new one comes."""
        store.remove_expired(s, now - self.lifetimes.absolute, now - self.lifetimes.idle)

    # -- every request -----------------------------------------------------------------------

    def resume(self, token: str | None) -> SessionState | None:
        """The session ``token`` opens now, or None: unknown, ended, past a lifetime, or its
        user disabled since."""
        if not token:
            return None
        key, now = _digest(token), self._ra.now()
        with self._ra.db.reading() as s:
            row = store.get(s, key)
            if row is None:
                return None
            user = accounts.get_user(s, row.username) if row.username else None
            state = SessionState(
                username=row.username,
                role=user.role if user else "resident",
                # the JST as stored now, with their subordinate units (ra/organizations.py)
                organizations=tuple(org_store.with_units(
                    s, accounts.user_organizations(s, row.username))) if user else (),
                stage=row.stage, enrolment=row.enrolment_id)
            pending, created, seen = row.pending_totp, row.created_at, row.last_seen_at
            usable = row.username is None or (user is not None and user.disabled_at is None)
        if (not usable or now >= created + self.lifetimes.absolute
                or now >= seen + self.lifetimes.idle):
            with self._ra.db.transaction() as s:
                store.remove(s, key)
            return None
        if now - seen >= _TOUCH_PRECISION:
            with self._ra.db.transaction() as s:
                store.touch(s, key, now)
        if state.stage == "totp_setup" and pending:
            state = dataclasses.replace(
                state, pending_totp=self._ra.fields.open(pending, _pending_totp_of(key)))
        return state

    # -- the staff log-in's stages -------------------------------------------------------------

    def advance(self, token: str, completed: str) -> SessionState:
        """The second factor (stage ``totp`` or ``totp_setup``) was passed, the web having
        checked the code: on to a new password if one is due, else signed in. A session that
        is not at that stage any more (ended, or another request moved it) is refused, so no
        stage is skipped."""
        if completed not in ("totp", "totp_setup"):
            raise ValueError(f"no stage {completed!r} is passed by a code")
        key = _digest(token)
        with self._ra.db.transaction() as s:
            row = store.get(s, key)
            if row is None or row.username is None or row.stage != completed:
                raise Unauthorized("the session has ended; log in again")
            user = accounts.get_user(s, row.username)
            row.stage = "new_password" if user.must_change_password else "ok"
            row.pending_totp = None
        return self.resume(token)

    def set_own_password(self, token: str, password: str) -> SessionState:
        """The new password a user chooses after an administrator's reset: stored, every other
        session of theirs ended, this one signed in."""
        key = _digest(token)
        validate_password(password)
        with self._ra.db.reading() as s:  # argon2id takes a while: not under the write lock
            row = store.get(s, key)
            user = accounts.get_user(s, row.username) if row and row.username else None
            current = user.password_hash if user else None
        if current is not None and password_matches(current, password):
            raise Malformed("password: choose a password other than the temporary one")
        hashed = password_hasher.hash(password)
        with self._ra.db.transaction() as s:
            row = store.get(s, key)
            if row is None or row.username is None or row.stage != "new_password":
                raise Unauthorized("the session has ended; log in again")
            user = accounts.get_user(s, row.username)
            user.password_hash = hashed
            user.must_change_password = False
            row.stage = "ok"
            ended = store.remove_of_user(s, row.username, keep=key)
            self._ra.audit(s, Event(actor=f"user:{row.username}", action="user.password_change",
                                    object=f"user:{row.username}",
                                    details={"sessions_ended": ended}))
        return self.resume(token)

    # -- the end ---------------------------------------------------------------------------

    def end(self, token: str | None) -> None:
        """Log-out: every session of the same person ends (a copy of the cookie, another
        browser), and a signed-in one is audited."""
        if not token:
            return
        key = _digest(token)
        with self._ra.db.transaction() as s:
            row = store.get(s, key)
            if row is None:
                return
            if row.username is not None:
                actor = f"user:{row.username}"
                ended = store.remove_of_user(s, row.username)
            else:
                actor = f"resident:enrolment:{row.enrolment_id}"
                ended = store.remove_of_enrolment(s, row.enrolment_id)
            if row.stage in SIGNED_IN:
                self._ra.audit(s, Event(actor=actor, action="logout", object=actor,
                                        details={"sessions_ended": ended}))
