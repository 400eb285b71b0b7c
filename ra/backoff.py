"""Exponential back-off of guessed secrets: staff passwords, TOTP codes, pickup codes and
revocation passwords, kept in the database so every worker of every server sees one count.

Each guess is counted under several scopes: the source alone (one client guessing many
accounts) and the account *from that source* (one client guessing one account). After a
scope's free wrong guesses, the next one must wait ``first``, then twice that, up to ``cap``;
a scope quiet for a whole ``cap`` after its window starts again from nothing. Nothing ever
locks for good, and because the account's count is kept per source, an attacker who backs
``admin`` off from one address does not stop ``admin`` logging in from another (OWASP
Authentication Cheat Sheet, "Account lockout": lock-outs an attacker can trigger are a denial
of service). A guess refused while backed off is refused before any hash is computed, so
guessing cannot load the server, and is not counted, so it does not lengthen the window.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math
from dataclasses import dataclass

from ca.errors import BackedOff, ConfigurationError
from ca.store import backoffs as store

__all__ = ["Scope", "Backoff", "scopes", "source_of", "SOURCE_FREE", "ACCOUNT_FREE"]

SOURCE_FREE = 10  # wrong guesses of any account from one source before it waits
ACCOUNT_FREE = 3  # wrong guesses of one account from one source before it waits


@dataclass(frozen=True)
class Scope:
    """One count a guess falls under: ``key`` (a SHA-256, so the table keeps no address or
    name), the wrong guesses ``free`` of waiting, and whether the right secret clears it (an
    account's count does; a source's does not, or an attacker's own account would wipe it)."""

    key: str
    free: int
    cleared_by_success: bool


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def source_of(address: str | None) -> str:
    """Where a guess comes from: the client's IPv4 address, or its IPv6 /64 (one subscriber
    line holds a whole /64, RFC 6177 §2, so an address per guess must not be a new source)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is that IPv4 client (RFC 4291 §2.5.5.2)
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def scopes(secret: str, source: str, account: str | None = None,
           account_wide: int | None = None) -> tuple[Scope, ...]:
    """The scopes of one guess of ``secret`` (``password``, ``totp``, ``pickup``,
    ``revocation``) from ``source`` at ``account``. ``account_wide``: also count the account
    from every source, that many wrong guesses free; only for a secret that only someone who
    already passed a first factor can try (the TOTP step), so no stranger can trigger it."""
    found = [Scope(_digest(secret, "source", source), SOURCE_FREE, False)]
    if account is not None:
        found.append(Scope(_digest(secret, "account", account, source), ACCOUNT_FREE, True))
        if account_wide is not None:
            found.append(Scope(_digest(secret, "account", account), account_wide, True))
    return tuple(found)


@dataclass(frozen=True)
class Backoff:
    """How long a scope waits: ``first`` after its free guesses, doubling up to ``cap``
    (``[backoff]`` in regca.toml: ``first_wait_seconds``, ``max_wait_seconds``)."""

    first: dt.timedelta = dt.timedelta(seconds=1)
    cap: dt.timedelta = dt.timedelta(minutes=15)

    def __post_init__(self):
        if not dt.timedelta(0) < self.first <= self.cap:
            raise ValueError("back-off: need 0 < first wait <= maximum wait")

    @classmethod
    def from_table(cls, raw: dict) -> Backoff:
        """``[backoff]`` of regca.toml; a bad value fails at start-up naming the field."""
        values = {}
        for name, field in (("first_wait_seconds", "first"), ("max_wait_seconds", "cap")):
            if name in raw:
                value = raw[name]
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise ConfigurationError(f"regca.toml [backoff] {name}: a positive "
                                             f"whole number of seconds, not {value!r}")
                values[field] = dt.timedelta(seconds=value)
        try:
            return cls(**values)
        except ValueError as exc:
            raise ConfigurationError(f"regca.toml [backoff] first_wait_seconds: {exc}") from None

    def wait(self, scope: Scope, failures: int) -> dt.timedelta:
        """The wait after ``failures`` wrong guesses in a row under ``scope``."""
        over = failures - scope.free
        if over < 0:
            return dt.timedelta(0)
        if over >= 32:  # past any cap; keeps 2**over small
            return self.cap
        return min(self.first * (2 ** over), self.cap)

    def check(self, session, now: dt.datetime, found: tuple[Scope, ...]) -> None:
        """Refuse (BackedOff, with the seconds to wait) while any scope is waiting. Call it
        before the secret is hashed or compared."""
        until = store.blocked_until(session, [s.key for s in found])
        if until is not None and until > now:
            raise BackedOff(max(1, math.ceil((until - now).total_seconds())))

    def fail(self, session, now: dt.datetime, found: tuple[Scope, ...]) -> None:
        """Count one wrong guess under every scope, and forget rows quiet for two caps (they
        are forgiven by then), so guessed names cannot grow the table without bound."""
        store.prune(session, now - 2 * self.cap)
        for scope in found:
            def count(failures: int, ended: dt.datetime | None, scope=scope):
                if ended is not None and now - ended >= self.cap:
                    failures = 0  # quiet for a whole cap after its window: forgiven
                return failures + 1, self.wait(scope, failures + 1)
            store.record_failure(session, scope.key, now, count)

    def succeed(self, session, found: tuple[Scope, ...]) -> None:
        """The right secret: the account's counts start again; the source's stay."""
        store.clear(session, [s.key for s in found if s.cleared_by_success])
