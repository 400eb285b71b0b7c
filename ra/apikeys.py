"""API keys: shown once, stored as a SHA-256 of the secret, checked in constant time.

A key looks like ``rca_<id>_<secret>``: the id finds the row, the 256-bit secret is compared by
hash (a high-entropy secret needs no slow password hash, as with GitHub's tokens).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass

from ca.audit import Event
from ca.clock import Clock, SystemClock
from ca.errors import Conflict, Forbidden, InvalidSubject, Malformed, NotFound, Unauthorized
from ca.identity import validate_organization_key
from ca.store import accounts
from ca.store import organizations as org_store
from ca.store.db import Database
from ca.store.models import ApiKey
from ra.authority import Recorder

__all__ = ["SCOPES", "ApiKeys", "ApiKeyView", "Principal", "create_api_key", "list_api_keys",
           "revoke_api_key", "require_scope"]

log = logging.getLogger("regca.apikeys")
# "Last used" is kept to this precision: one write per key per interval, not per request.
_LAST_USE_PRECISION = dt.timedelta(minutes=1)

SCOPES = ("sign", "verify", "issue", "revoke", "sign-digest")
# Signing a bare digest seals bytes the server never saw, so it is a scope of its own, given in
# addition to ``sign`` (CONTRACT.md); keys made before it existed do not have it.
_NEEDS = {"sign-digest": "sign"}
_FORMAT = re.compile(r"^rca_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Principal:
    """Who is calling the API: the key's id and name, its scopes and its JST, if bound, with
    that JST's subordinate units (``units``), read when the key is presented, as a web
    session reads its officer's (``org_store.with_units``): a JST's key acts for its units."""

    key_id: str
    name: str
    scopes: frozenset[str]
    organization_teryt: str | None
    units: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_id}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(ra: Recorder, name: str, scopes: list[str], teryt: str | None,
                   actor: str = "operator") -> str:
    """Create a key and return it; only its hash is kept, so this is the one chance to see it."""
    if not name.strip():
        raise Malformed("name: must not be empty")
    bad = [s for s in scopes if s not in SCOPES]
    if not scopes or bad:
        raise Malformed(f"scopes: {', '.join(bad) or 'none given'} (allowed: {', '.join(SCOPES)})")
    for scope, base in _NEEDS.items():
        if scope in scopes and base not in scopes:
            raise Malformed(f"scopes: {scope} is given in addition to {base} "
                            f"(--scopes {base},{scope})")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with ra.db.transaction() as s:
        if teryt is not None:
            # a JST's TERYT, or the REGON of a subordinate unit (its key wherever a TERYT is)
            teryt = validate_organization_key(teryt, "org")
            if org_store.get(s, teryt) is None:
                raise InvalidSubject("org", f"no JST with TERYT {teryt} is served by this home")
        accounts.add_api_key(s, ApiKey(id=key_id, name=name.strip(), secret_hash=_digest(secret),
                                       scopes=",".join(sorted(set(scopes))),
                                       organization_teryt=teryt, created_at=ra.now()))
        ra.audit(s, Event(actor=actor, action="apikey.create", object=f"apikey:{key_id}",
                           organization_teryt=teryt,
                           details={"name": name.strip(), "scopes": sorted(set(scopes))}))
    return f"rca_{key_id}_{secret}"


@dataclass(frozen=True)
class ApiKeyView:
    """What ``regca apikey list`` shows of a key: never its secret nor the secret's hash."""

    id: str
    name: str
    scopes: tuple[str, ...]
    organization_teryt: str | None
    created: dt.datetime
    last_used: dt.datetime | None


def list_api_keys(ra: Recorder) -> list[ApiKeyView]:
    """The keys not revoked, oldest first."""
    with ra.db.reading() as s:
        return [ApiKeyView(k.id, k.name, tuple(k.scopes.split(",")), k.organization_teryt,
                           k.created_at, k.last_used_at) for k in accounts.api_keys(s)]


def revoke_api_key(ra: Recorder, key_id: str, actor: str = "operator") -> str:
    """Revoke a key for good (``key_id``, or the whole key: only its id is used); returns the
    id. Every worker reads the key's row on every request, so the next request made with it,
    in any worker, is refused."""
    key_id = key_id.strip().removeprefix("rca_").split("_", 1)[0]
    with ra.db.transaction() as s:
        row = accounts.get_api_key(s, key_id)
        if row is None:
            raise NotFound(f"no API key with id {key_id!r} (regca apikey list)")
        if not accounts.revoke_api_key(s, key_id, ra.now()):
            raise Conflict(f"API key {key_id} is already revoked")
        ra.audit(s, Event(actor=actor, action="apikey.revoke", object=f"apikey:{key_id}",
                           organization_teryt=row.organization_teryt,
                           details={"name": row.name}))
    return key_id


class ApiKeys:
    """The API keys as a front sees them: a presented key checked against the store, nothing
    more (no creating, revoking or listing). The composition gives one to each front that
    authenticates callers."""

    def __init__(self, db: Database, clock: Clock | None = None):
        self._db = db
        self._clock = clock or SystemClock()

    def authenticate(self, presented: str | None) -> Principal:
        if not presented:
            raise Unauthorized("an API key is required (Authorization: Bearer <key>)")
        match = _FORMAT.match(presented.strip())
        if not match:
            raise Unauthorized("the API key is not valid")
        key_id, secret = match.groups()
        with self._db.reading() as s:
            row = accounts.get_api_key(s, key_id)
            valid = row is not None and row.revoked_at is None and hmac.compare_digest(
                row.secret_hash, _digest(secret))
            teryt = row.organization_teryt if valid else None
            units = tuple(org_store.with_units(s, [teryt])[1:]) if teryt else ()
        if not valid:
            raise Unauthorized("the API key is not valid")
        self._note_use(row.id, row.last_used_at)
        return Principal(row.id, row.name, frozenset(row.scopes.split(",")), teryt, units)

    def _note_use(self, key_id: str, last: dt.datetime | None) -> None:
        """Record the use to the minute; a failure to record it never refuses the caller."""
        now = self._clock.now()
        if last is not None and now - last < _LAST_USE_PRECISION:
            return
        try:
            with self._db.transaction() as s:
                accounts.mark_api_key_used(s, key_id, now)
        except Exception as exc:  # noqa: BLE001 - informational only
            log.warning("could not record the use of API key %s: %s", key_id, exc)


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise Forbidden(f"this API key lacks the {scope!r} scope")
