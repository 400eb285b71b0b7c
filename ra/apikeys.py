"""API keys: shown once, stored as a SHA-256 of the secret, checked in constant time.

A key looks like ``rca_<id>_<secret>``: the id finds the row, the 256-bit secret is compared by
hash (a high-entropy secret needs no slow password hash, as with GitHub's tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from ca.audit import Event
from ca.errors import Forbidden, InvalidSubject, Malformed, Unauthorized
from ca.identity import validate_teryt
from ca.store import accounts
from ca.store import organizations as org_store
from ca.store.db import Database
from ca.store.models import ApiKey
from ra.authority import Recorder

__all__ = ["SCOPES", "ApiKeys", "Principal", "create_api_key", "require_scope"]

SCOPES = ("sign", "verify", "issue", "revoke", "sign-digest")
# Signing a bare digest seals bytes the server never saw, so it is a scope of its own, given in
# addition to ``sign`` (CONTRACT.md); keys made before it existed do not have it.
_NEEDS = {"sign-digest": "sign"}
_FORMAT = re.compile(r"^rca_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Principal:
    """Who is calling the API: the key's id and name, its scopes and its JST, if bound."""

    key_id: str
    name: str
    scopes: frozenset[str]
    organization_teryt: str | None

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
            teryt = validate_teryt(teryt, "org")
            if org_store.get(s, teryt) is None:
                raise InvalidSubject("org", f"no JST with TERYT {teryt} is served by this home")
        accounts.add_api_key(s, ApiKey(id=key_id, name=name.strip(), secret_hash=_digest(secret),
                                       scopes=",".join(sorted(set(scopes))),
                                       organization_teryt=teryt, created_at=ra.now()))
        ra.audit(s, Event(actor=actor, action="apikey.create", object=f"apikey:{key_id}",
                           organization_teryt=teryt,
                           details={"name": name.strip(), "scopes": sorted(set(scopes))}))
    return f"rca_{key_id}_{secret}"


class ApiKeys:
    """The API keys as a front sees them: a presented key checked against the store, nothing
    more (no creating, revoking or listing). The composition gives one to each front that
    authenticates callers."""

    def __init__(self, db: Database):
        self._db = db

    def authenticate(self, presented: str | None) -> Principal:
        if not presented:
            raise Unauthorized("an API key is required (Authorization: Bearer <key>)")
        match = _FORMAT.match(presented.strip())
        if not match:
            raise Unauthorized("the API key is not valid")
        key_id, secret = match.groups()
        with self._db.reading() as s:
            row = accounts.get_api_key(s, key_id)
        if row is None or row.revoked_at is not None or not hmac.compare_digest(
                row.secret_hash, _digest(secret)):
            raise Unauthorized("the API key is not valid")
        return Principal(row.id, row.name, frozenset(row.scopes.split(",")),
                         row.organization_teryt)


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise Forbidden(f"this API key lacks the {scope!r} scope")
