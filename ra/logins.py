"""Staff log-in decisions: argon2id password, TOTP second factor (RFC 6238), lock-out.

The web layer asks; this module decides and audits. Time comes from the injected clock, so the
lock-out and the TOTP window are testable at a pinned time.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

import pyotp
from argon2.exceptions import InvalidHashError, VerificationError

from ca.audit import Event
from ca.errors import Malformed, Unauthorized
from ca.store import accounts
from ca.store import enrolments as store
from ra.authority import Reader, Recorder, RegistrationAuthority
from ra.users import password_hasher

__all__ = ["StaffLogin", "LockedOut", "check_password", "check_totp", "start_totp",
           "confirm_totp", "totp_uri", "MAX_FAILURES", "LOCKOUT"]

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
_DUMMY_HASH = password_hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class StaffLogin:
    username: str
    role: str
    organizations: tuple[str, ...]
    totp_enrolled: bool


class LockedOut(Unauthorized):
    code = "locked_out"


def _fail(ra: Recorder, s, username: str, reason: str, known: bool) -> None:
    """Count a failure against a real account (unknown names get no row, so guessing names
    cannot grow the table); audit it either way."""
    failures = None
    if known:
        state = store.login_state(s, username)
        state.failures += 1
        if state.failures >= MAX_FAILURES:
            state.locked_until = ra.now() + LOCKOUT
        failures = state.failures
    ra.audit(s, Event(actor=f"user:{username}", action="login", object=f"user:{username}",
                       outcome="failure", details={"reason": reason, "failures": failures}))


def _refuse_if_locked(ra: Recorder, s, username: str) -> None:
    state = store.login_state(s, username, create=False)
    if state and state.locked_until and state.locked_until > ra.now():
        ra.audit(s, Event(actor=f"user:{username}", action="login", object=f"user:{username}",
                           outcome="failure", details={"reason": "locked out"}))
        raise LockedOut("too many failed log-ins; the account is locked for "
                        f"{int(LOCKOUT.total_seconds() // 60)} minutes")


def check_password(ra: RegistrationAuthority, username: str, password: str) -> StaffLogin:
    """The first factor. Unknown users and wrong passwords get the same answer and cost."""
    with ra.db.transaction() as s:
        _refuse_if_locked(ra, s, username)
        user = accounts.get_user(s, username)
        try:
            password_hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
            ok = user is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            _fail(ra, s, username, "password", user is not None)
    if not ok:
        raise Unauthorized("wrong user name or password")
    with ra.reading() as s:
        orgs = tuple(accounts.user_organizations(s, username))
    return StaffLogin(username, user.role, orgs, bool(user.totp_secret))


def _totp_step(ra: Reader, secret: str, code: str) -> int | None:
    """The time step ``code`` belongs to, or None. RFC 6238 §5.2: one step either side is
    accepted for clock drift."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(ra.now())
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _accept_step(state, step: int | None) -> bool:
    """RFC 6238 §5.2: a code accepted once must not be accepted again, nor an older one."""
    if step is None or (state.totp_counter is not None and step <= state.totp_counter):
        return False
    state.totp_counter = step
    return True


def check_totp(ra: RegistrationAuthority, username: str, code: str) -> None:
    """The second factor; success clears the failure count and is audited as the log-in."""
    with ra.db.transaction() as s:
        _refuse_if_locked(ra, s, username)
        user = accounts.get_user(s, username)
        step = _totp_step(ra, user.totp_secret, code) if user and user.totp_secret else None
        state = store.login_state(s, username) if user else None
        if state is None or not _accept_step(state, step):
            _fail(ra, s, username, "totp", user is not None)
            ok = False
        else:
            state.failures, state.locked_until = 0, None
            ra.audit(s, Event(actor=f"user:{username}", action="login",
                               object=f"user:{username}", details={"second_factor": "totp"}))
            ok = True
    if not ok:
        raise Unauthorized("wrong one-time code")


def start_totp() -> str:
    """A new TOTP secret (160 bits, RFC 4226 §4 recommends at least 128)."""
    return pyotp.random_base32(32)


def confirm_totp(ra: RegistrationAuthority, username: str, secret: str, code: str) -> None:
    """Store the secret once the user proves their authenticator app holds it."""
    step = _totp_step(ra, secret, code)
    if step is None:
        raise Malformed("code: the one-time code does not match; check the app's clock")
    with ra.db.transaction() as s:
        user = accounts.get_user(s, username)
        if user is None or user.totp_secret:
            raise Unauthorized("the second factor is already set up")
        user.totp_secret = secret
        state = store.login_state(s, username)
        state.failures, state.locked_until, state.totp_counter = 0, None, step
        ra.audit(s, Event(actor=f"user:{username}", action="user.totp_enrol",
                           object=f"user:{username}"))
        ra.audit(s, Event(actor=f"user:{username}", action="login",
                           object=f"user:{username}", details={"second_factor": "totp"}))


def totp_uri(username: str, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="RegCA")
