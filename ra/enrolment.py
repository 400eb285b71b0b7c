"""Enrolment at the desk: the applicant recorded, certificates issued for them (from a CSR or onto
a token), and the resident's self-service secrets (pickup code, revocation password). Both
secrets are guarded by ``ra.backoff``; a pickup code also expires (``RaSettings``).

Every function takes the caller's JST scope (``orgs``: the officer's JST, or None for roles
that see every JST) and refuses what lies outside it, so the web layer decides nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from ca.audit import Event
from ca.errors import ConfigurationError, InvalidSubject, NotFound, Unauthorized
from ca.field_crypto import pesel_of
from ca.identity import mask_pesel, parse_subscriber, validate_pesel
from ca.issuance import IssuanceRequest, IssuedCertificate
from ca.personal_data import HMAC_ROLE
from ca.serials import parse_serial
from ca.store import data_keys as people_store
from ca.store import enrolments as store
from ca.store import organizations as org_store
from ca.store.models import Enrolment, Token
from ra.access import in_scope
from ra.authority import Reader, RegistrationAuthority
from ra.backoff import scopes
from ra.organizations import check_active
from ra.paging import PAGE_SIZE, Page
from ra.personalisation import LocalCa, PersonalisationRequest, Personalised, personalise
from ra.token import TokenRef, initialise_token
from ra.users import password_hasher, password_matches

__all__ = ["Applicant", "KINDS", "record", "subject_of", "visible", "issue_from_csr",
           "personalise_token", "redeem_pickup", "check_revocation_password", "new_pickup_code",
           "initialise_blank_token", "tokens_of", "PickupExpired", "PickupCode",
           "pickup_code", "opened", "find_by_pesel", "search", "same_person", "mark_delivered",
           "HOLDER_REASONS"]

KINDS = ("resident", "staff")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a desk
_MIN_REVOCATION_PASSWORD = 8
# The RFC 5280 §5.3.1 reasons a holder may give for revoking their own certificate: the facts
# they know (their key, their data, their use of it); holds and privilegeWithdrawn are the CA's.
HOLDER_REASONS = ("keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation",
                  "unspecified")


class PickupExpired(Unauthorized):
    """The pickup code was right but is older than the home's validity: an officer gives a
    new one."""

    code = "pickup_expired"


@dataclass(frozen=True)
class Applicant:
    kind: str
    organization_teryt: str
    given_name: str
    surname: str
    pesel: str | None = None
    email: str | None = None
    title: str | None = None
    document_type: str | None = None
    document_number: str | None = None
    revocation_password: str | None = None

    def subject(self) -> dict:
        d = {"given_name": self.given_name, "surname": self.surname, "pesel": self.pesel,
             "email": self.email, "title": self.title}
        if self.kind == "staff":
            d["organization_teryt"] = self.organization_teryt
        if self.document_type or self.document_number:
            d["identity_document"] = {"type": self.document_type or "",
                                      "number": self.document_number or ""}
        return {k: v for k, v in d.items() if v not in (None, "")}


def _code_digest(code: str) -> str:
    return hashlib.sha256("".join(code.upper().split()).replace("-", "").encode()).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))  # 80 bits
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def subject_of(e: Enrolment) -> dict:
    return Applicant(e.kind, e.organization_teryt, e.given_name, e.surname, e.pesel, e.email,
                     e.title, e.document_type, e.document_number).subject()


def opened(ra: Reader, e: Enrolment) -> Enrolment:
    """``e`` with its PESEL opened from the sealed column into ``e.pesel`` (ca/field_crypto.py):
    what subjects and pages read."""
    e.pesel = ra.fields.open_optional(e.pesel_sealed, pesel_of(e.id))
    return e


def record(ra: RegistrationAuthority, applicant: Applicant, actor: str,
           orgs: tuple[str, ...] | None) -> tuple[Enrolment, str]:
    """Validate and store the applicant; returns the enrolment and its one-time pickup code
    (shown once: only its hash is kept)."""
    if applicant.kind not in KINDS:
        raise InvalidSubject("kind", f"must be one of {', '.join(KINDS)}")
    in_scope(orgs, applicant.organization_teryt)
    sub = parse_subscriber(applicant.subject())
    if not sub.given_name or not sub.surname:
        raise InvalidSubject("given_name" if not sub.given_name else "surname", "required")
    if applicant.kind == "resident" and not (sub.pesel or sub.identity_document):
        raise InvalidSubject("pesel", "a resident needs a PESEL or an identity document")
    password = applicant.revocation_password or ""
    if applicant.kind == "resident" and len(password) < _MIN_REVOCATION_PASSWORD:
        raise InvalidSubject("revocation_password",
                             f"at least {_MIN_REVOCATION_PASSWORD} characters")
    code = _new_code()
    with ra.db.transaction() as s:
        check_active(org_store.get(s, applicant.organization_teryt))
        doc = sub.identity_document
        person = ra.people.ref(sub.pesel) if sub.pesel and ra.people.keyed else None
        e = store.add(s, Enrolment(
            organization_teryt=applicant.organization_teryt, officer=actor, kind=applicant.kind,
            given_name=sub.given_name, surname=sub.surname, person_ref=person, email=sub.email,
            title=sub.title, document_type=doc.type if doc else None,
            document_number=doc.number if doc else None, created_at=ra.now(),
            pickup_code_hash=_code_digest(code),
            revocation_password_hash=password_hasher.hash(password) if password else None))
        if sub.pesel:  # sealed to its row, whose id the insert has just given
            e.pesel_sealed = ra.fields.seal(sub.pesel, pesel_of(e.id))
        e.pesel = sub.pesel
        ra.audit(s, Event(actor=actor, action="enrolment.record", object=f"enrolment:{e.id}",
                           organization_teryt=e.organization_teryt,
                           details={"kind": e.kind, "pesel": mask_pesel(e.pesel),
                                    **({"person": person} if person else {})}))
    return e, code


def visible(ra: Reader, enrolment_id: int, orgs: tuple[str, ...] | None) -> Enrolment:
    with ra.reading() as s:
        e = store.get(s, enrolment_id)
    if e is None:
        raise NotFound(f"no enrolment {enrolment_id}")
    in_scope(orgs, e.organization_teryt)
    return opened(ra, e)


def _check_profile(ra: Reader, e: Enrolment, profile: str) -> None:
    if ra.profiles.get(profile).subject != e.kind:
        raise InvalidSubject("profile", f"{profile} is not a {e.kind} profile")


def issue_from_csr(ra: RegistrationAuthority, enrolment_id: int, profile: str, csr: bytes,
                   actor: str, orgs: tuple[str, ...] | None) -> IssuedCertificate:
    e = visible(ra, enrolment_id, orgs)
    _check_profile(ra, e, profile)
    issued = ra.ca.issue(IssuanceRequest(profile, csr, subject_of(e), actor,
                                        e.organization_teryt))
    with ra.db.transaction() as s:
        store.link_certificate(s, e.id, issued.serial)
    return issued


def personalise_token(ra: RegistrationAuthority, enrolment_id: int, profiles: tuple[str, ...],
                      ref: TokenRef, pin: str, actor: str, orgs: tuple[str, ...] | None,
                      replaces: int | None = None,
                      renew_token: int | None = None) -> tuple[Token, list[Personalised]]:
    """Keys and certificates for ``profiles`` onto one token, which joins the registry (or,
    renewing, stays the registry row ``renew_token`` with the new certificates added)."""
    e = visible(ra, enrolment_id, orgs)
    for profile in profiles:
        _check_profile(ra, e, profile)
    done = personalise(PersonalisationRequest(ref, pin, profiles, subject_of(e),
                                              renewal=renew_token is not None),
                       LocalCa(ra.ca, actor, e.organization_teryt))
    now = ra.now()
    with ra.db.transaction() as s:
        if renew_token is not None:
            token = store.get_token(s, renew_token, for_update=True)
            token.updated_at = now
        else:
            token = store.add_token(s, Token(label=ref.label, enrolment_id=e.id,
                                             serial_number=done[0].token_serial or None,
                                             organization_teryt=e.organization_teryt,
                                             state="active", created_at=now, updated_at=now))
        for item in done:
            store.link_certificate(s, e.id, item.issued.serial)
            store.link_token(s, token.id, item.issued.serial)
        ra.audit(s, Event(actor=actor,
                           action="token.renew" if renew_token else "token.personalise",
                           object=f"token:{token.id}", organization_teryt=e.organization_teryt,
                           details={"enrolment": e.id, "label": ref.label,
                                    "replaces": replaces,
                                    "certificates": [i.issued.serial for i in done]}))
    return token, done


def initialise_blank_token(ra: RegistrationAuthority, enrolment_id: int, ref: TokenRef, pin: str,
                           actor: str, orgs: tuple[str, ...] | None) -> str:
    """Initialise a blank token for this enrolment; returns its SO PIN (shown once, never
    stored: with it the holder's officer can later unblock the user PIN)."""
    e = visible(ra, enrolment_id, orgs)
    so_pin = initialise_token(ref, pin)
    with ra.db.transaction() as s:
        ra.audit(s, Event(actor=actor, action="token.initialise", object=f"token:{ref.label}",
                           organization_teryt=e.organization_teryt,
                           details={"enrolment": e.id, "module": ref.module}))
    return so_pin


def new_pickup_code(ra: RegistrationAuthority, enrolment_id: int, actor: str,
                    orgs: tuple[str, ...] | None) -> str:
    """A fresh code (the old one stops working), e.g. when the resident lost the first or let
    it expire; shown once, audited."""
    code = _new_code()
    with ra.db.transaction() as s:
        e = store.get(s, enrolment_id, for_update=True)
        if e is None:
            raise NotFound(f"no enrolment {enrolment_id}")
        in_scope(orgs, e.organization_teryt)
        e.pickup_code_hash, e.pickup_used_at = _code_digest(code), None
        e.pickup_issued_at = ra.now()
        ra.audit(s, Event(actor=actor, action="enrolment.pickup_code", object=f"enrolment:{e.id}",
                           organization_teryt=e.organization_teryt))
    return code


@dataclass(frozen=True)
class PickupCode:
    """Where an enrolment's current pickup code is in its life, as the officer's page shows
    it: ``used`` once it has delivered a certificate (``mark_delivered``), ``lapsed`` once
    ``valid_until`` has passed unused (an officer gives a new one)."""

    given: bool
    used: bool
    valid_until: dt.datetime | None
    lapsed: bool


def pickup_code(ra: RegistrationAuthority, e: Enrolment) -> PickupCode:
    if e.pickup_code_hash is None:
        return PickupCode(False, False, None, False)
    until = (e.pickup_issued_at or e.created_at) + ra.settings.pickup_validity
    used = e.pickup_used_at is not None
    return PickupCode(True, used, until, not used and ra.now() >= until)


def redeem_pickup(ra: RegistrationAuthority, code: str, source: str) -> int:
    """Exchange a pickup code for the resident's enrolment, before it expires and until it has
    delivered a certificate (``mark_delivered``): a code used while the certificate is still
    being issued opens the page again later. A source that guessed wrong too often is refused
    (BackedOff) before the code is looked up."""
    found = scopes("pickup", source)
    now = ra.now()
    with ra.reading() as s:
        ra.backoff.check(s, now, found)
    with ra.db.transaction() as s:
        e = store.by_pickup_hash(s, _code_digest(code or ""))
        state = pickup_code(ra, e) if e is not None else None
        reason = ("unknown code" if state is None else "used" if state.used
                  else "past its validity" if state.lapsed else None)
        if reason is not None:
            if reason == "unknown code":  # a guess; a real code used twice or late is not
                ra.backoff.fail(s, now, found)
            ra.audit(s, Event(actor="resident", action="pickup.redeem",
                               object=f"enrolment:{e.id}" if e else "enrolment:?",
                               outcome="failure", details={"reason": reason},
                               organization_teryt=e.organization_teryt if e else None))
        else:
            ra.audit(s, Event(actor=f"resident:enrolment:{e.id}", action="pickup.redeem",
                               object=f"enrolment:{e.id}",
                               organization_teryt=e.organization_teryt))
            enrolment_id = e.id
    if reason == "past its validity":
        raise PickupExpired("this pickup code has expired; an officer can give a new one")
    if reason is not None:
        raise Unauthorized("this pickup code is not valid or has already been used")
    return enrolment_id


def mark_delivered(ra: RegistrationAuthority, session, enrolment_id: int) -> None:
    """A certificate went to the resident: from now on the pickup code alone opens nothing
    (with the revocation password it still brings the resident back, ``ra.holder``). Runs in
    the caller's transaction ``session``, the one that audits the download."""
    e = store.get(session, enrolment_id, for_update=True)
    if e is not None and e.pickup_code_hash is not None and e.pickup_used_at is None:
        e.pickup_used_at = ra.now()
        ra.audit(session, Event(actor=f"resident:enrolment:{e.id}", action="pickup.delivered",
                                object=f"enrolment:{e.id}",
                                organization_teryt=e.organization_teryt))


def check_revocation_password(ra: RegistrationAuthority, enrolment_id: int, serial: str,
                              password: str | None, source: str) -> None:
    """A resident's own revocation is proven by the password set at enrolment; a wrong one is
    audited and refused, and guessing backs off per source and per enrolment from that source,
    refused (BackedOff) before the 64 MiB argon2 hash is computed. Which certificates are the
    resident's is ``ra.access``'s to say."""
    found = scopes("revocation", source, f"enrolment:{enrolment_id}")
    with ra.reading() as s:
        ra.backoff.check(s, ra.now(), found)
        e = store.get(s, enrolment_id)
    if e is None:
        raise NotFound(f"no enrolment {enrolment_id}")
    if not password_matches(e.revocation_password_hash, password):
        with ra.db.transaction() as s:
            ra.backoff.fail(s, ra.now(), found)
            ra.audit(s, Event(actor=f"resident:enrolment:{e.id}", action="certificate.revoke",
                               object=f"certificate:{serial}", outcome="failure",
                               organization_teryt=e.organization_teryt,
                               details={"reason": "wrong revocation password"}))
        raise Unauthorized("wrong revocation password")
    with ra.db.transaction() as s:
        ra.backoff.succeed(s, found)


def _person_ref(ra: Reader, pesel: str) -> str:
    """The PESEL's keyed reference: the only way a sealed PESEL is found."""
    if not ra.people.keyed:
        raise ConfigurationError(f"hsm.keys.{HMAC_ROLE}: this home has no HMAC key, so "
                                 "PESELs are not searchable")
    return ra.people.ref(pesel)


# a serial as shown (lowercase hex, any length: a leading zero nibble is not written) or with
# colons between its bytes
_HEX_SERIAL = re.compile(r"[0-9a-fA-F]{12,}|(?:[0-9a-fA-F]{1,2}:){5,}[0-9a-fA-F]{1,2}")


def _query(ra: Reader, text: str) -> store.EnrolmentQuery:
    """One search box, read the way an officer types: 11 digits are a PESEL (exact, found by
    its keyed reference), a long hexadecimal run a certificate serial, anything else words of
    a name or a token's label."""
    text = " ".join((text or "").split())
    if re.fullmatch(r"\d{11}", text):
        pesel = validate_pesel(text)
        return store.EnrolmentQuery(person_ref=_person_ref(ra, pesel))
    if _HEX_SERIAL.fullmatch(text) and not text.isalpha():
        try:
            return store.EnrolmentQuery(serial=parse_serial(text))
        except ValueError:
            pass
    return store.EnrolmentQuery(words=text.split()[:5], token_label=text or None)


def search(ra: Reader, orgs: tuple[str, ...] | None, text: str | None, page: int = 1,
           size: int = PAGE_SIZE) -> Page[Enrolment]:
    """The caller's enrolments matching ``text`` (all of them when empty), one page with the
    total. A PESEL that is not one is refused (InvalidSubject), not searched."""
    q = _query(ra, text or "")
    with ra.reading() as s:
        rows, total = store.find(s, list(orgs) if orgs is not None else None, q,
                                 (page - 1) * size, size)
    return Page([opened(ra, e) for e in rows], total, page, size)


def find_by_pesel(ra: Reader, pesel: str, orgs: tuple[str, ...] | None) -> list[Enrolment]:
    """The caller's JST's enrolments of the person with this PESEL, newest first: an exact
    search by the PESEL's keyed reference (the PESEL itself is sealed, and searched by
    nothing)."""
    ref = _person_ref(ra, validate_pesel((pesel or "").strip()))
    with ra.reading() as s:
        rows = people_store.enrolments_by_person(s, ref, list(orgs) if orgs is not None
                                                 else None)
    return [opened(ra, e) for e in rows]


def same_person(ra: Reader, orgs: tuple[str, ...] | None, pesel: str | None) -> list[Enrolment]:
    """Enrolments already recorded for this PESEL in the caller's JST: the duplicate-person
    warning (issue 18: one PESEL was accepted 206 times). A PESEL that is not valid has
    none (``record`` refuses it), nor has any in a home without the HMAC key."""
    try:
        return find_by_pesel(ra, pesel, orgs) if ra.people.keyed else []
    except InvalidSubject:
        return []


def tokens_of(ra: Reader, enrolment_id: int, orgs: tuple[str, ...] | None) -> list[Token]:
    e = visible(ra, enrolment_id, orgs)
    with ra.reading() as s:
        return store.tokens_of(s, e.id)
