"""Enrolment at the desk: the applicant recorded, certificates issued for them (from a CSR or onto
a token), and the resident's self-service secrets (pickup code, revocation password).

Every function takes the caller's JST scope (``orgs``: the officer's JST, or None for roles
that see every JST) and refuses what lies outside it, so the web layer decides nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2.exceptions import InvalidHashError, VerificationError

from ca.audit import Event
from ca.errors import InvalidSubject, NotFound, Unauthorized
from ca.identity import mask_pesel, parse_subscriber, validate_pesel
from ca.issuance import IssuanceRequest, IssuedCertificate
from ca.serials import parse_serial
from ca.store import enrolments as store
from ca.store import organizations as org_store
from ca.store.models import Enrolment, Token
from ra.access import in_scope
from ra.authority import Reader, RegistrationAuthority
from ra.paging import PAGE_SIZE, Page
from ra.personalisation import LocalCa, PersonalisationRequest, Personalised, personalise
from ra.token import TokenRef, initialise_token
from ra.users import password_hasher

__all__ = ["Applicant", "KINDS", "record", "subject_of", "visible", "issue_from_csr",
           "personalise_token", "redeem_pickup", "check_revocation_password", "new_pickup_code",
           "initialise_blank_token", "tokens_of", "search", "same_person"]

KINDS = ("resident", "staff")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a desk
_MIN_REVOCATION_PASSWORD = 8


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
        if org_store.get(s, applicant.organization_teryt) is None:
            raise InvalidSubject("organization_teryt", "no such JST in this home")
        doc = sub.identity_document
        person = ra.people.ref(sub.pesel) if sub.pesel and ra.people.keyed else None
        e = store.add(s, Enrolment(
            organization_teryt=applicant.organization_teryt, officer=actor, kind=applicant.kind,
            given_name=sub.given_name, surname=sub.surname, pesel=sub.pesel, email=sub.email,
            person_ref=person, title=sub.title, document_type=doc.type if doc else None,
            document_number=doc.number if doc else None, created_at=ra.now(),
            pickup_code_hash=_code_digest(code),
            revocation_password_hash=password_hasher.hash(password) if password else None))
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
    return e


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
    """A fresh code (the old one stops working), e.g. when the resident lost the first."""
    code = _new_code()
    with ra.db.transaction() as s:
        e = store.get(s, enrolment_id, for_update=True)
        if e is None:
            raise NotFound(f"no enrolment {enrolment_id}")
        in_scope(orgs, e.organization_teryt)
        e.pickup_code_hash, e.pickup_used_at = _code_digest(code), None
        ra.audit(s, Event(actor=actor, action="enrolment.pickup_code", object=f"enrolment:{e.id}",
                           organization_teryt=e.organization_teryt))
    return code


def redeem_pickup(ra: RegistrationAuthority, code: str) -> int:
    """Exchange a pickup code for the resident's enrolment, once: a second use is refused."""
    with ra.db.transaction() as s:
        e = store.by_pickup_hash(s, _code_digest(code or ""))
        if e is None or e.pickup_used_at is not None:
            ra.audit(s, Event(actor="resident", action="pickup.redeem", object="enrolment:?",
                               outcome="failure",
                               details={"reason": "used" if e else "unknown code"}))
            ok = False
        else:
            e.pickup_used_at = ra.now()
            ra.audit(s, Event(actor=f"resident:enrolment:{e.id}", action="pickup.redeem",
                               object=f"enrolment:{e.id}",
                               organization_teryt=e.organization_teryt))
            ok, enrolment_id = True, e.id
    if not ok:
        raise Unauthorized("this pickup code is not valid or has already been used")
    return enrolment_id


def check_revocation_password(ra: RegistrationAuthority, enrolment_id: int, serial: str,
                              password: str | None) -> None:
    """A resident's own revocation is proven by the password set at enrolment; a wrong one is
    audited and refused. Which certificates are the resident's is ``ra.access``'s to say."""
    with ra.reading() as s:
        e = store.get(s, enrolment_id)
    if e is None:
        raise NotFound(f"no enrolment {enrolment_id}")
    try:
        password_hasher.verify(e.revocation_password_hash or "", password or "")
    except (VerificationError, InvalidHashError):
        with ra.db.transaction() as s:
            ra.audit(s, Event(actor=f"resident:enrolment:{e.id}", action="certificate.revoke",
                               object=f"certificate:{serial}", outcome="failure",
                               organization_teryt=e.organization_teryt,
                               details={"reason": "wrong revocation password"}))
        raise Unauthorized("wrong revocation password") from None


def _person_ref(ra: Reader, pesel: str) -> str | None:
    return ra.people.ref(pesel) if ra.people.keyed else None


_HEX_SERIAL = re.compile(r"(?:[0-9a-fA-F]{2}:?){6,}")


def _query(ra: Reader, text: str) -> store.EnrolmentQuery:
    """One search box, read the way an officer types: 11 digits are a PESEL (exact, found by
    its keyed reference), a long hexadecimal run a certificate serial, anything else words of
    a name or a token's label."""
    text = " ".join((text or "").split())
    if re.fullmatch(r"\d{11}", text):
        pesel = validate_pesel(text)
        return store.EnrolmentQuery(person_ref=_person_ref(ra, pesel), pesel=pesel)
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
    return Page(rows, total, page, size)


def same_person(ra: Reader, orgs: tuple[str, ...] | None, pesel: str | None) -> list[Enrolment]:
    """Enrolments already recorded for this PESEL in the caller's JST: the duplicate-person
    warning (issue 18: one PESEL was accepted 206 times). A PESEL that is not valid has
    none; ``record`` refuses it."""
    try:
        pesel = validate_pesel((pesel or "").strip())
    except InvalidSubject:
        return []
    with ra.reading() as s:
        return store.same_person(s, list(orgs) if orgs is not None else None,
                                 _person_ref(ra, pesel), pesel)


def tokens_of(ra: Reader, enrolment_id: int, orgs: tuple[str, ...] | None) -> list[Token]:
    e = visible(ra, enrolment_id, orgs)
    with ra.reading() as s:
        return store.tokens_of(s, e.id)
