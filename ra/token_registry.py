"""The token registry's lifecycle: active -> blocked / lost / destroyed / replaced.

A lost token's certificates are revoked with keyCompromise (someone else may hold the key),
a destroyed one's with cessationOfOperation, a replaced or renewed one's with superseded
(RFC 5280 §5.3.1). Each change is one audited step; the revocations are the core's.
"""

from __future__ import annotations

from ca.audit import Event
from ca.errors import Conflict, NotFound
from ca.revocation import RevocationRequest
from ca.store import enrolments as store
from ca.store.models import Enrolment, Token
from ra.access import in_scope
from ra.authority import Reader, RegistrationAuthority
from ra.enrolment import opened, personalise_token
from ra.token import TokenRef, unblock_pin

__all__ = ["visible_token", "listed", "holder_of", "report_lost", "report_destroyed",
           "report_blocked", "unblock", "replace", "renew", "TRANSITIONS"]

# Which states each event may start from.
TRANSITIONS = {
    "lost": ("active", "blocked"),
    "destroyed": ("active", "blocked", "lost"),
    "blocked": ("active",),
    "active": ("blocked",),  # unblock
    "replaced": ("active", "blocked", "lost", "destroyed"),
}
_REASON = {"lost": "keyCompromise", "destroyed": "cessationOfOperation",
           "replaced": "superseded"}


def visible_token(ra: Reader, token_id: int, orgs: tuple[str, ...] | None) -> Token:
    with ra.reading() as s:
        token = store.get_token(s, token_id)
    if token is None:
        raise NotFound(f"no token {token_id} in the registry")
    in_scope(orgs, token.organization_teryt)
    return token


def listed(ra: Reader, orgs: tuple[str, ...] | None) -> list[tuple[Token, Enrolment]]:
    """The newest registry tokens of the caller's JST (None: every JST), each with its
    holder's enrolment."""
    with ra.reading() as s:
        tokens = store.list_tokens(s, list(orgs) if orgs is not None else None)
        rows = [(tk, store.get(s, tk.enrolment_id)) for tk in tokens]
    return [(tk, opened(ra, e)) for tk, e in rows]


def holder_of(ra: Reader, token: Token) -> Enrolment:
    """The enrolment of a token already found with ``visible_token``."""
    with ra.reading() as s:
        e = store.get(s, token.enrolment_id)
    return opened(ra, e)


def _move(ra: RegistrationAuthority, token_id: int, state: str, actor: str,
          orgs: tuple[str, ...] | None, details: dict | None = None) -> Token:
    with ra.db.transaction() as s:
        token = store.get_token(s, token_id, for_update=True)
        if token is None:
            raise NotFound(f"no token {token_id} in the registry")
        in_scope(orgs, token.organization_teryt)
        if token.state not in TRANSITIONS[state]:
            raise Conflict(f"token {token_id} is {token.state}; it cannot become {state}")
        before, token.state, token.updated_at = token.state, state, ra.now()
        ra.audit(s, Event(actor=actor, action=f"token.{state}", object=f"token:{token_id}",
                           organization_teryt=token.organization_teryt,
                           details={"from": before, **(details or {})}))
        serials = [c.serial for c in store.token_certificates(s, token_id)
                   if c.status == "issued"]
    reason = _REASON.get(state)
    if reason:
        for serial in serials:
            ra.ca.revoke(RevocationRequest(serial, reason, actor))
    return token


def report_lost(ra: RegistrationAuthority, token_id, actor, orgs) -> Token:
    return _move(ra, token_id, "lost", actor, orgs)


def report_destroyed(ra: RegistrationAuthority, token_id, actor, orgs) -> Token:
    return _move(ra, token_id, "destroyed", actor, orgs)


def report_blocked(ra: RegistrationAuthority, token_id, actor, orgs) -> Token:
    return _move(ra, token_id, "blocked", actor, orgs)


def unblock(ra: RegistrationAuthority, token_id: int, ref: TokenRef, so_pin: str, new_pin: str,
            actor: str, orgs: tuple[str, ...] | None) -> Token:
    """A new user PIN set with the SO PIN; the registry row goes back to active."""
    token = visible_token(ra, token_id, orgs)
    if token.state not in ("active", "blocked"):
        raise Conflict(f"token {token_id} is {token.state}; only a blocked one is unblocked")
    unblock_pin(ref, so_pin, new_pin)
    if token.state == "blocked":
        return _move(ra, token_id, "active", actor, orgs, {"pin": "reset with SO PIN"})
    with ra.db.transaction() as s:
        ra.audit(s, Event(actor=actor, action="token.unblock", object=f"token:{token_id}",
                           organization_teryt=token.organization_teryt))
    return token


def _profiles_on(ra: Reader, token_id: int) -> tuple[str, ...]:
    with ra.reading() as s:
        return tuple(dict.fromkeys(c.profile for c in store.token_certificates(s, token_id)))


def replace(ra: RegistrationAuthority, token_id: int, ref: TokenRef, pin: str, actor: str,
            orgs: tuple[str, ...] | None) -> Token:
    """The same profiles onto a new token; the old one is marked replaced and its certificates
    superseded (a lost token was already revoked for keyCompromise)."""
    old = visible_token(ra, token_id, orgs)
    if old.state not in TRANSITIONS["replaced"]:
        raise Conflict(f"token {token_id} is {old.state}; it cannot be replaced")
    new, _ = personalise_token(ra, old.enrolment_id, _profiles_on(ra, token_id), ref, pin,
                               actor, orgs, replaces=token_id)
    _move(ra, token_id, "replaced", actor, orgs, {"replaced_by": new.id})
    with ra.db.transaction() as s:
        store.get_token(s, token_id, for_update=True).replaced_by = new.id
    return new


def renew(ra: RegistrationAuthority, token_id: int, ref: TokenRef, pin: str, actor: str,
          orgs: tuple[str, ...] | None) -> Token:
    """New keys and certificates before expiry, on the same token or a new one."""
    old = visible_token(ra, token_id, orgs)
    if old.state != "active":
        raise Conflict(f"token {token_id} is {old.state}; only an active token is renewed")
    if ref.label != old.label:
        return replace(ra, token_id, ref, pin, actor, orgs)
    with ra.reading() as s:
        previous = [c.serial for c in store.token_certificates(s, token_id)
                    if c.status == "issued"]
    _, done = personalise_token(ra, old.enrolment_id, _profiles_on(ra, token_id), ref, pin,
                                actor, orgs, renew_token=token_id)
    for serial in previous:
        ra.ca.revoke(RevocationRequest(serial, "superseded", actor))
    return visible_token(ra, token_id, orgs)
