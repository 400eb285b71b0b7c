"""Staff log-in decisions: argon2id password, TOTP second factor (RFC 6238), back-off.

The web layer asks; this module decides and audits. Wrong guesses back off per source and per
account from that source (``ra.backoff``), the same for names that exist and names that do
not, so neither the answer nor its cost tells them apart. Time comes from the injected clock,
so the back-off and the TOTP window are testable at a pinned time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import pyotp

from ca.audit import Event
from ca.errors import Malformed, Unauthorized
from ca.field_crypto import totp_secret_of
from ca.store import accounts
from ca.store import enrolments as store
from ca.store import organizations as org_store
from ra.authority import Reader, RegistrationAuthority
from ra.backoff import scopes
from ra.users import password_matches

__all__ = ["StaffLogin", "check_password", "check_totp", "start_totp", "confirm_totp",
           "totp_uri", "TOTP_ACCOUNT_FREE"]

# Wrong one-time codes of one account from every source before it waits: only someone who
# passed the password step can try them, so no stranger can back an account off this way.
TOTP_ACCOUNT_FREE = 5


@dataclass(frozen=True)
class StaffLogin:
    username: str
    role: str
    organizations: tuple[str, ...]
    totp_enrolled: bool


def _audit_failure(ra: RegistrationAuthority, s, username: str, reason: str) -> None:
    ra.audit(s, Event(actor=f"user:{username}", action="login", object=f"user:{username}",
                       outcome="failure", details={"reason": reason}))


def check_password(ra: RegistrationAuthority, username: str, password: str,
                   source: str) -> StaffLogin:
    """The first factor. Unknown users and wrong passwords get the same answer and cost; a
    source backed off for this name is refused (BackedOff) before any hash is computed."""
    found = scopes("password", source, username)
    with ra.reading() as s:
        ra.backoff.check(s, ra.now(), found)
        user = accounts.get_user(s, username)
    # outside any transaction: argon2 takes a while and holds no lock
    ok = password_matches(user.password_hash if user else None, password)
    with ra.db.transaction() as s:
        if ok:
            ra.backoff.succeed(s, found)
        else:
            ra.backoff.fail(s, ra.now(), found)
            _audit_failure(ra, s, username, "password")
    if not ok:
        raise Unauthorized("wrong user name or password")
    with ra.reading() as s:
        orgs = tuple(org_store.with_units(s, accounts.user_organizations(s, username)))
    return StaffLogin(username, user.role, orgs, bool(user.totp_secret))


def _secret(ra: RegistrationAuthority, user) -> str | None:
    """The user's TOTP secret, opened from its sealed form (ca/field_crypto.py)."""
    return ra.fields.open(user.totp_secret, totp_secret_of(user.username)) \
        if user and user.totp_secret else None


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


def check_totp(ra: RegistrationAuthority, username: str, code: str, source: str) -> None:
    """The second factor; success clears the account's back-off and is audited as the
    log-in. A backed-off source or account is refused (BackedOff) before the code is read."""
    found = scopes("totp", source, username, account_wide=TOTP_ACCOUNT_FREE)
    with ra.reading() as s:
        ra.backoff.check(s, ra.now(), found)
    with ra.db.transaction() as s:
        user = accounts.get_user(s, username)
        secret = _secret(ra, user)
        step = _totp_step(ra, secret, code) if secret else None
        state = store.login_state(s, username) if user else None
        if state is None or not _accept_step(state, step):
            ra.backoff.fail(s, ra.now(), found)
            _audit_failure(ra, s, username, "totp")
            ok = False
        else:
            ra.backoff.succeed(s, found)
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
    sealed = ra.fields.seal(secret, totp_secret_of(username))  # never stored in clear
    with ra.db.transaction() as s:
        user = accounts.get_user(s, username)
        if user is None or user.totp_secret:
            raise Unauthorized("the second factor is already set up")
        user.totp_secret = sealed
        store.login_state(s, username).totp_counter = step
        ra.audit(s, Event(actor=f"user:{username}", action="user.totp_enrol",
                           object=f"user:{username}"))
        ra.audit(s, Event(actor=f"user:{username}", action="login",
                           object=f"user:{username}", details={"second_factor": "totp"}))


def totp_uri(username: str, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="RegCA")

