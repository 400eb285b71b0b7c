"""Renewal: a new certificate for the same person, profile and JST, issued before the old one
expires and without revoking it. The old certificate stays valid to its notAfter, so what was
signed with it keeps validating; its holder simply moves to the new one.

Whether the key stays is the profile's ``renewal_same_key`` (policies/profiles/*.toml): an
authentication key may be certified again; a signing key is replaced by a new one, so that no
signing key outlives the certificate period it was made for. A renewal comes from a CSR (the
applicant's own token or software) or is made on a registry token at the desk: a new key
generated on the token, or the token's existing key certified again.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.audit import Event
from ca.errors import Conflict, InvalidSubject, NotFound
from ca.issuance import IssuanceRequest
from ca.keyreuse import spki_sha256
from ca.profiles import Profile
from ca.status import certificate_status
from ca.store import certificates as cert_store
from ca.store import enrolments as enrol_store
from ca.store.models import Enrolment
from ra.access import in_scope
from ra.authority import Reader, RegistrationAuthority
from ra.enrolment import opened, subject_of
from ra.personalisation import LocalCa, PersonalisationRequest, personalise
from ra.token import TokenKey, TokenRef, open_token

__all__ = ["Renewal", "renewable", "renew_from_csr", "renew_on_token"]


@dataclass(frozen=True)
class Renewal:
    old_serial: str
    new_serial: str
    profile: str
    same_key: bool
    certificate: x509.Certificate
    chain: list[x509.Certificate]


@dataclass(frozen=True)
class _Old:
    serial: str
    profile: Profile
    der: bytes
    enrolment: Enrolment
    token_id: int | None
    token_label: str | None


def renewable(ra: Reader, serial: str, orgs: tuple[str, ...] | None) -> _Old:
    """The certificate to renew, refused unless it is issued, neither revoked nor expired, and
    issued for an enrolment in the caller's JST scope."""
    with ra.reading() as s:
        row = cert_store.get(s, serial)
        e = enrol_store.enrolment_of_certificate(s, serial) if row is not None else None
        tokens = [t for t in enrol_store.tokens_of(s, e.id)
                  if serial in {c.serial for c in enrol_store.token_certificates(s, t.id)}
                  ] if e is not None else []
    if row is None or e is None:
        raise NotFound(f"no enrolled certificate with serial {serial}")
    in_scope(orgs, e.organization_teryt)
    opened(ra, e)  # its PESEL, for the renewed certificate's subject
    status = certificate_status(row, ra.now())
    if not status.good:
        raise Conflict(f"certificate {serial} is {status.state}; only a valid certificate is "
                       "renewed (otherwise issue a new one)")
    token = tokens[0] if tokens else None
    if token is not None and token.state != "active":
        token = None  # a lost, blocked or replaced token is renewed onto another from a CSR
    return _Old(row.serial, ra.profiles.get(row.profile),
                cert_store.der_of(ra.fields, row.serial, row.der), e,
                token.id if token else None, token.label if token else None)


def _record(ra: RegistrationAuthority, old: _Old, new_serial: str, same_key: bool, via: str,
            actor: str) -> None:
    with ra.db.transaction() as s:
        enrol_store.link_certificate(s, old.enrolment.id, new_serial)
        if via == "token" and old.token_id is not None:
            enrol_store.link_token(s, old.token_id, new_serial)
        ra.audit(s, Event(actor=actor, action="certificate.renew",
                           object=f"certificate:{old.serial}",
                           organization_teryt=old.enrolment.organization_teryt,
                           details={"renewed_by": new_serial, "profile": old.profile.name,
                                    "same_key": same_key, "via": via,
                                    "enrolment": old.enrolment.id}))


def renew_from_csr(ra: RegistrationAuthority, serial: str, csr: bytes, actor: str,
                   orgs: tuple[str, ...] | None) -> Renewal:
    old = renewable(ra, serial, orgs)
    try:
        request = x509.load_pem_x509_csr(csr) if b"-----BEGIN" in csr else \
            x509.load_der_x509_csr(csr)
    except ValueError:
        raise InvalidSubject("csr", "not a PKCS#10 request (PEM or DER)") from None
    old_key = x509.load_der_x509_certificate(old.der).public_key()
    same = spki_sha256(request.public_key()) == spki_sha256(old_key)
    if old.profile.renewal_same_key and not same:
        raise InvalidSubject("csr", f"profile {old.profile.name} renews with the same key; "
                                    "this request carries another key")
    if not old.profile.renewal_same_key and same:
        raise InvalidSubject("csr", f"profile {old.profile.name} renews with a new key; this "
                                    "request carries the key of the certificate renewed")
    issued = ra.ca.issue(IssuanceRequest(old.profile.name, csr, subject_of(old.enrolment),
                                         actor, old.enrolment.organization_teryt))
    _record(ra, old, issued.serial, same, "csr", actor)
    return Renewal(old.serial, issued.serial, old.profile.name, same, issued.certificate,
                   issued.chain)


def renew_on_token(ra: RegistrationAuthority, serial: str, ref: TokenRef, pin: str, actor: str,
                   orgs: tuple[str, ...] | None) -> Renewal:
    """On the token holding the old certificate: a new key beside the old one, or the old key
    certified again, per the profile; the new certificate is written next to its key."""
    old = renewable(ra, serial, orgs)
    if old.token_id is None:
        raise Conflict(f"certificate {serial} is not on a registry token; renew it from a CSR")
    subject = subject_of(old.enrolment)
    ca = LocalCa(ra.ca, actor, old.enrolment.organization_teryt)
    if not old.profile.renewal_same_key:
        done = personalise(PersonalisationRequest(ref, pin, (old.profile.name,), subject,
                                                  renewal=True), ca)[0]
        _record(ra, old, done.issued.serial, False, "token", actor)
        return Renewal(old.serial, done.issued.serial, old.profile.name, False,
                       done.issued.certificate, done.issued.chain)
    # Step 1: the key that the old certificate certifies, found on the token; a CSR signed by it.
    with open_token(ref, pin) as token:
        found = [(key_id, label, cert) for key_id, label, cert in token.certificates()
                 if cert.public_bytes(Encoding.DER) == old.der]
        if not found:
            raise Conflict(f"token {ref.label!r} does not hold certificate {serial}")
        key_id, label, cert = found[0]
        key = TokenKey(key_id, label, cert.public_key())
        csr = token.csr(key, " ".join(p for p in (old.enrolment.given_name,
                                                   old.enrolment.surname) if p))
    # Step 2: the CA issues (the token is released meanwhile); Step 3: written beside the key.
    ca.check(old.profile.name, subject)
    issued = ca.issue(old.profile.name, csr, subject)
    try:
        with open_token(ref, pin) as token:
            token.write_certificates(key, issued.certificate, issued.chain)
    except Exception:
        ca.withdraw(issued.serial)  # never a valid certificate its holder does not have
        raise
    _record(ra, old, issued.serial, True, "token", actor)
    return Renewal(old.serial, issued.serial, old.profile.name, True, issued.certificate,
                   issued.chain)

