"""Issuance: validate, record intent, sign in the HSM, store, audit (DESIGN.md order).

A crash between the steps leaves a pending row that ``reconcile`` settles; there is never a
signed certificate the database does not know.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from cryptography import x509
from sqlalchemy.exc import IntegrityError

from ca.audit import Event
from ca.certbuilder import (
    Authority,
    CertificateSpec,
    encode_tbs,
    sign_as_builders_do,
    signature_algorithm,
)
from ca.context import CaContext
from ca.csr import checked_public_key, load_csr
from ca.der import signed
from ca.errors import Forbidden, InvalidSubject, RegCAError, UnknownProfile
from ca.field_crypto import FieldCipher
from ca.identity import Subscriber, parse_subscriber
from ca.keyreuse import spki_sha256, willing_to_certify_key
from ca.names import person_name
from ca.ocsp_cache import ResponseCache
from ca.personal_data import PersonRefs
from ca.profiles import Profile
from ca.serials import new_serial, serial_hex
from ca.store import certificates as cert_store
from ca.store import organizations as org_store
from ca.store.certificates import (
    IssuanceWriter,
    PendingCertificate,
    Revocation,
    SignedCertificate,
)

if TYPE_CHECKING:
    from ca.store.models import Organization

__all__ = ["IssuanceRequest", "IssuedCertificate", "Issuer"]

_SUBSCRIBER_KINDS = ("staff", "resident")


@dataclass(frozen=True)
class IssuanceRequest:
    """An RA's request: profile, PKCS#10 (PEM or DER) and the SUBJ.json fields."""

    profile: str
    csr: bytes | str
    subject: dict
    actor: str
    scope_teryt: str | None = None  # an API key bound to one JST may only issue for it
    scope_units: tuple[str, ...] = ()  # and for that JST's subordinate units


@dataclass(frozen=True)
class IssuedCertificate:
    serial: str
    certificate: x509.Certificate
    chain: list[x509.Certificate]


class Issuer:
    def __init__(self, ctx: CaContext):
        self.ctx = ctx

    @cached_property
    def _responses(self) -> ResponseCache:
        """One per issuer: it keeps the OCSP responder's key and issuer hashes once loaded."""
        return ResponseCache(self.ctx)

    # -- deciding -----------------------------------------------------------------------------

    def _check_fields(self, profile: Profile, sub: Subscriber) -> None:
        for field in profile.required_fields:
            if getattr(sub, field) in (None, ""):
                raise InvalidSubject(field, f"required by profile {profile.name}")
        if profile.subject == "resident" and not (sub.pesel or sub.identity_document):
            raise InvalidSubject("pesel", f"profile {profile.name} needs a PESEL or an "
                                 "identity_document to identify the resident")

    @staticmethod
    def _outside_scope(teryt: str | None, request: IssuanceRequest) -> bool:
        """Whether a request scoped to a JST (and its units) names another organisation."""
        return bool(request.scope_teryt) and teryt not in (request.scope_teryt,
                                                           *request.scope_units)

    def _organization(self, sub: Subscriber, request: IssuanceRequest) -> Organization | None:
        if sub.organization_teryt is None:
            return None
        if self._outside_scope(sub.organization_teryt, request):
            raise Forbidden(f"this key may only issue for JST {request.scope_teryt} and its "
                            "units")
        # read each time (one indexed row): an administrator may rename an organisation or
        # change its codes, and the next certificate must carry the new ones
        org = org_store.find(self.ctx.db, sub.organization_teryt)
        if org is None:
            raise InvalidSubject("organization_teryt", f"no JST with TERYT "
                                 f"{sub.organization_teryt} is served by this home")
        return org

    def prepare(self, request: IssuanceRequest) -> tuple[CertificateSpec, Organization | None]:
        """Everything that can refuse a request, before anything is written."""
        profile = self.ctx.profiles.get(request.profile)
        if profile.subject not in _SUBSCRIBER_KINDS:
            raise UnknownProfile(f"profile {profile.name!r} is not issued to subscribers")
        sub = parse_subscriber(request.subject)
        self._check_fields(profile, sub)
        if profile.subject == "resident" and sub.organization_teryt is not None and (
                self._outside_scope(sub.organization_teryt, request)):
            raise Forbidden(f"this key may only issue for JST {request.scope_teryt} and its "
                            "units")
        org = self._organization(sub, request)
        public_key = checked_public_key(load_csr(request.csr), profile.key_algorithms)
        name = person_name(sub, org if profile.subject == "staff" else None)
        emails = (sub.email,) if sub.email else ()
        return CertificateSpec(profile, name, public_key, emails), org

    # -- doing --------------------------------------------------------------------------------

    def issue(self, request: IssuanceRequest) -> IssuedCertificate:
        spec, org = self.prepare(request)
        # each made once: the key's checks and its pending row use the same
        subject_text, spki = spec.subject.rfc4514_string(), spki_sha256(spec.public_key)
        uses = self._key_uses(spki)
        if uses:  # a key certified before: its rows keep a PESEL as its keyed reference
            willing_to_certify_key(uses, subject_text, spec.profile,
                                   cert_store.person_ref_of(self._people.subject(subject_text)))
        # A profile names its issuer's role; of the issuing CA, the active generation issues.
        issuer = (self.ctx.issuing_authority() if spec.profile.issuer == "issuing"
                  else self.ctx.authority(spec.profile.issuer))
        teryt = org.teryt if org else (request.scope_teryt or None)
        return self._issue_spec(spec, issuer, request.actor, teryt, None, subject_text, spki)

    def issue_spec(self, spec: CertificateSpec, issuer: Authority | None, actor: str,
                   organization_teryt: str | None = None, self_key=None) -> IssuedCertificate:
        """Sign ``spec`` with ``issuer`` (or ``self_key`` for a self-signed root).

        Must run its steps in this order; each commit is a point a crash may stop at.
        Concurrent callers share their commits (``IssuanceWriter``).
        """
        return self._issue_spec(spec, issuer, actor, organization_teryt, self_key,
                                spec.subject.rfc4514_string(), spki_sha256(spec.public_key))

    def _issue_spec(self, spec: CertificateSpec, issuer: Authority | None, actor: str,
                    organization_teryt: str | None, self_key, subject_text: str,
                    spki: bytes) -> IssuedCertificate:
        """``issue_spec`` given the subject's RFC 4514 text and the key's SPKI hash."""
        ctx = self.ctx
        key = issuer.key if issuer else self_key
        issuer_name = issuer.name if issuer else "root"
        now = ctx.now().replace(microsecond=0)
        not_after = now + dt.timedelta(days=spec.profile.validity_days)
        if issuer is not None:
            not_after = min(not_after, issuer.certificate.not_valid_after_utc)

        # Step 1: a fresh serial, recorded as pending with its TBS before any signing; a row
        # whose subject carries a PESEL is sealed here, on this thread, before the writer's
        # lock (ca/store/certificates.py).
        audit_subject = self._people.subject(subject_text)
        for _attempt in range(5):
            serial = new_serial()
            tbs = encode_tbs(spec, issuer, serial, now, not_after, ctx.urls, key)
            row = cert_store.sealed_pending(self._fields, PendingCertificate(
                serial_hex(serial), issuer_name, spec.profile.name, subject_text,
                organization_teryt, actor, now, not_after, tbs, ctx.now(), spki), audit_subject)
            try:
                self._writer.record_pending(row)
                break
            except IntegrityError:
                continue  # a serial collision: astronomically rare, never silently reused
        else:
            raise RegCAError("could not allocate a unique serial number")

        # Step 2: the HSM signs exactly the recorded TBS.
        der = signed(tbs, signature_algorithm(key), sign_as_builders_do(key, tbs))
        certificate = x509.load_der_x509_certificate(der)

        # Step 3: store it as issued, audit, and keep its pre-signed OCSP responses, in one
        # transaction.
        self._store_issued(SignedCertificate(row, der,
                                             self._responses.for_new(row.serial, issuer_name),
                                             audit_subject,
                                             cert_store.sealed_der(self._fields, row, der)))
        chain = [] if issuer is None else self._chain_for(issuer)
        return IssuedCertificate(row.serial, certificate, chain)

    def _store_issued(self, signed: SignedCertificate) -> None:
        self._writer.record_issued(signed)

    @cached_property
    def _people(self) -> PersonRefs:
        return self.ctx.people

    @cached_property
    def _fields(self) -> FieldCipher:
        return self.ctx.fields

    @cached_property
    def _key_uses(self) -> cert_store.KeyUses:
        return cert_store.key_uses(self.ctx.db)

    @cached_property
    def _writer(self) -> IssuanceWriter:
        return IssuanceWriter(self.ctx.db, self.ctx.now)

    def _chain_for(self, issuer: Authority) -> list[x509.Certificate]:
        if issuer.name == "root":
            return [issuer.certificate]
        return [issuer.certificate, self.ctx.certificate_of("root-ca")]

    def reconcile(self) -> list[str]:
        """Settle pending rows older than the grace period: a certificate that may have been
        signed but was never stored is treated as revoked, so no relying party trusts it."""
        ctx = self.ctx
        cutoff = ctx.now() - dt.timedelta(seconds=ctx.settings.pending_grace_seconds)
        now = ctx.now()  # listed by the next delta CRL, as revoked at this time
        with ctx.db.transaction() as s:
            stale = cert_store.stale_pending(s, cutoff)
            cert_store.set_revocation(s, [Revocation(
                row, "abandoned", now, None, None, Event(
                    actor="system", action="certificate.abandon",
                    object=f"certificate:{row.serial}", organization_teryt=row.organization_teryt,
                    details={"profile": row.profile,
                             "reason": "pending at restart; treated as revoked"}))
                for row in stale], now)
        return [row.serial for row in stale]
