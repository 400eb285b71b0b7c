"""The narrow things the composition hands to the fronts instead of a ``CaContext``.

A context reaches the whole store and every HSM key; a front gets only what it uses (issue 13,
"No front can reach a key it does not use"): OCSP a status source and the responder's key, the
TSA its own key, the signing API the seal key; the registration authority (and through it the
web) the CA's ``IssuingCa`` and a ``ReadOnlyStore``. Each object here is built once by the
composition (regca/roles.py) from the context, which the fronts never see. ``RoleKey``
(ca/rolekeys.py) follows its service's active key generation, so a rollover reaches every front
without a restart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError

from ca.audit import Event
from ca.ceremony_policy import CeremonyPolicy
from ca.certbuilder import Authority
from ca.clock import Clock
from ca.errors import (
    ConfigurationError,
    DependencyUnavailable,
    NotFound,
)
from ca.field_crypto import FieldCipher
from ca.issuance import IssuanceRequest, IssuedCertificate, Issuer
from ca.issuing_cas import IssuingCas, IssuingKeys, generation_of
from ca.ocsp_cache import kept_current
from ca.ocsp_mirror import ResponseMirror
from ca.ocsp_signer import OcspSigner
from ca.personal_data import PersonRefs
from ca.profiles import ProfileSet
from ca.revocation import RevocationRequest, Revoker
from ca.rolekeys import RECHECK, SERVICE_PROFILES, KeyPair, RoleKey, ServiceGenerations
from ca.store import audit as audit_store
from ca.store import ocsp as ocsp_store
from ca.store.db import Database
from ca.store.models import Certificate
from ca.store.ocsp import ResponseRow
from ca.transparency import LogReader
from ca.urls import PublicUrls

_SERVICE_ROLES = {profile: role for role, profile in SERVICE_PROFILES.items()}

__all__ = ["RoleKey", "ScopedKeys", "ResponderKeys", "ResponseStore", "OcspServices",
           "IssuingCa", "ReadOnlyStore"]


class ScopedKeys:
    """One service role's keys per JST (role ``seal``, scope its TERYT), for a front that signs
    on behalf of each JST and holds nothing of the HSM beyond that role.

    ``of(teryt)`` gives the ``RoleKey`` of the JST's active generation, which follows its
    rollovers by itself, or None while the JST has none; a None is looked for again after
    ``recheck`` seconds, so a seal created by ``regca seal create`` is used by every running
    worker within that interval, without a restart (CONTRACT.md: within 15 s).
    """

    def __init__(self, role: str, hsm, generations: ServiceGenerations,
                 recheck: float = RECHECK):
        self.role, self._recheck = role, recheck
        self._hsm = hsm.only(role)
        self._generations = generations
        self._keys: dict[str, tuple[RoleKey | None, float]] = {}
        self._lock = threading.Lock()

    def of(self, scope: str) -> RoleKey | None:
        now = time.monotonic()
        with self._lock:
            found = self._keys.get(scope)
        if found is not None and (found[0] is not None or now - found[1] < self._recheck):
            return found[0]
        key: RoleKey | None = RoleKey(self.role, self._hsm, self._generations, scope,
                                      self._recheck)
        try:
            key.certificate  # noqa: B018 - reads the active generation: NotFound if none
        except NotFound:
            key = None
        with self._lock:
            self._keys[scope] = (key, now)
        return key

    def __repr__(self) -> str:
        return f"<ScopedKeys role={self.role!r}>"


class ResponderKeys:
    """What the OCSP front signs with (ca.ocsp_signer.SignerSource): the CA certificates it
    answers for (the root and every issuing-CA generation, read again as ceremonies add them)
    and the delegated responder's key (RFC 6960 §4.2.2.2). No CA key: the root's responses,
    and a retired issuing CA's, are pre-signed by the refresh job, which runs in the core."""

    def __init__(self, root: x509.Certificate, issuing: IssuingCas, responder: RoleKey,
                 clock: Clock):
        self._root, self._issuing, self.responder, self.clock = root, issuing, responder, clock
        self._cas: tuple[dict, dict] | None = None  # (issuing's dict, the whole dict)

    def certificate_of(self, profile: str) -> x509.Certificate:
        if profile == "root-ca":
            return self._root
        if profile == "issuing-ca":
            return self._issuing.certificate(self._issuing.active_name())
        if profile == SERVICE_PROFILES[self.responder.role]:
            return self.responder.certificate
        raise NotFound(f"the OCSP responder knows no {profile} certificate")

    def ca_certificate(self, name: str) -> x509.Certificate:
        return self._root if name == "root" else self._issuing.certificate(name)

    def ca_certificates(self) -> dict[str, x509.Certificate]:
        issuing = self._issuing.certificates()
        if self._cas is None or self._cas[0] is not issuing:
            self._cas = (issuing, {"root": self._root, **issuing})
        return self._cas[1]

    def key_pair(self, role: str) -> KeyPair:
        if role != self.responder.role:
            raise ConfigurationError(f"the OCSP responder holds no {role} key")
        return self.responder.pair()

    def now(self) -> dt.datetime:
        return self.clock.now()


class ResponseStore:
    """The responder's view of the store: a certificate's status row, its pre-signed
    responses, and keeping a response signed on a miss. Its reader is made on first use (the
    app is created before the fork).

    With a ``mirror`` (this node's copy of the responses, ca/ocsp_mirror.py), a
    response the database cannot give because it is away comes from the mirror, and a response
    signed on a miss goes into both; without the database, ``status`` raises
    DependencyUnavailable."""

    def __init__(self, db: Database, mirror: ResponseMirror | None = None):
        self._db = db
        self._mirror = mirror
        self._reader: ocsp_store.FastReader | None = None

    @property
    def _read(self) -> ocsp_store.FastReader:
        if self._reader is None:
            self._reader = ocsp_store.FastReader(self._db)
        return self._reader

    def response(self, serial: str, hash_algorithm: str):
        """``(der, this_update, next_update)`` of the stored response, or None."""
        try:
            return self._read.response(serial, hash_algorithm)
        except SQLAlchemyError as exc:
            if self._mirror is None:
                raise DependencyUnavailable(f"database unavailable: {exc}") from None
            return self._mirror.get(serial, hash_algorithm)

    def status(self, serial: str) -> tuple | None:
        """``(serial, issuer, status, revoked_at, reason)``, or None."""
        try:
            return self._read.status(serial)
        except SQLAlchemyError as exc:
            raise DependencyUnavailable(f"database unavailable: {exc}") from None

    def save_current(self, pairs: list[tuple[tuple, ResponseRow]]) -> int:
        kept = kept_current(self._db, pairs)
        if self._mirror is not None and kept:
            self._mirror.replace(kept)
        return len(kept)


@dataclass(frozen=True)
class OcspServices:
    """Everything the OCSP front is given."""

    signer: OcspSigner  # over ResponderKeys
    store: ResponseStore
    clock: Clock


# -- the CA as the registration authority reaches it -------------------------------------------

class _CaSettings(NamedTuple):
    crl_dir: Path  # where a revocation's delta CRL is published


class _IssuingSource:
    """What ``Issuer``, ``Revoker``, the OCSP response cache and the CRL publisher ask a
    context for, narrowed to subscriber work: the CA certificates, the issuing CA's key and the
    OCSP responder's key (pre-signed responses). No root key: a root-issued certificate revoked
    here is recorded, and its responses and CRL are left to the operator's jobs."""

    def __init__(self, db: Database, profiles: ProfileSet, clock: Clock, urls: PublicUrls,
                 crl_dir: Path, certificates: dict[str, x509.Certificate],
                 keys: dict[str, RoleKey], issuing: IssuingKeys, people: PersonRefs,
                 fields: FieldCipher, ceremony_policy: CeremonyPolicy):
        self.db, self.profiles, self.clock, self.urls = db, profiles, clock, urls
        self.people, self.fields, self.ceremony_policy = people, fields, ceremony_policy
        self.settings = _CaSettings(crl_dir)
        self._certificates, self._keys, self._issuing = dict(certificates), dict(keys), issuing
        self._authorities: dict[str, Authority] = {}

    def now(self) -> dt.datetime:
        return self.clock.now()

    def online_cas(self) -> list[str]:
        return self._issuing.cas.publishing(self.now())  # the only CA keys held here

    def audit(self, session, event: Event) -> int:
        return audit_store.append(session, event, self.now())

    def certificate_of(self, profile: str) -> x509.Certificate:
        role = _SERVICE_ROLES.get(profile)
        if role in self._keys:  # a service's active generation, which a rollover changes
            return self._keys[role].certificate
        if profile == "issuing-ca":  # the active generation, which a ceremony changes
            return self._issuing.cas.certificate(self._issuing.cas.active_name())
        try:
            return self._certificates[profile]
        except KeyError:
            raise NotFound(f"the issuing CA knows no {profile} certificate") from None

    def ca_certificate(self, name: str) -> x509.Certificate:
        if name == "root":
            return self.certificate_of("root-ca")
        return self._issuing.cas.certificate(name)

    def ca_certificates(self) -> dict[str, x509.Certificate]:
        return {"root": self.certificate_of("root-ca"), **self._issuing.cas.certificates()}

    def key_pair(self, role: str) -> KeyPair:
        if generation_of(role) is not None:  # an issuing-CA generation, retired ones too
            return self._issuing.pair(role)
        key = self._keys.get(role)
        if key is None:
            raise ConfigurationError(f"the issuing CA holds no {role} key")
        return key.pair()

    def authority(self, name: str) -> Authority:
        pair = self.key_pair(name)
        auth = self._authorities.get(name)
        if auth is None or auth.certificate is not pair.certificate:
            auth = self._authorities[name] = Authority(name, *pair)
        return auth

    def issuing_authority(self) -> Authority:
        """The active generation: a ceremony's new issuing CA issues here within
        ``ca.rolekeys.RECHECK`` seconds, without a restart."""
        return self.authority(self._issuing.cas.active_name())

    def chain(self) -> list[x509.Certificate]:
        return [self.certificate_of("issuing-ca"), self.certificate_of("root-ca")]


class IssuingCa:
    """The CA as the registration authority reaches it (Boulder's RA to CA): issue a
    subscriber's certificate, check a request without issuing, revoke, and the chain. Every
    decision about the certificate stays the CA's (``Issuer.prepare``); the keys stay inside,
    reached by no public attribute."""

    def __init__(self, db: Database, profiles: ProfileSet, clock: Clock, urls: PublicUrls,
                 crl_dir: Path, certificates: dict[str, x509.Certificate],
                 keys: dict[str, RoleKey], issuing: IssuingKeys, people: PersonRefs,
                 fields: FieldCipher, ceremony_policy: CeremonyPolicy):
        source = _IssuingSource(db, profiles, clock, urls, crl_dir, certificates, keys, issuing,
                                people, fields, ceremony_policy)
        self._issuer, self._revoker = Issuer(source), Revoker(source)
        self._chain = source.chain

    def prepare(self, request: IssuanceRequest) -> None:
        """Everything that would refuse ``request``, without issuing."""
        self._issuer.prepare(request)

    def issue(self, request: IssuanceRequest) -> IssuedCertificate:
        return self._issuer.issue(request)

    def revoke(self, request: RevocationRequest) -> Certificate:
        return self._revoker.revoke(request)

    def chain(self) -> list[x509.Certificate]:
        return self._chain()

    def __repr__(self) -> str:
        return "<IssuingCa>"


class ReadOnlyStore:
    """The store as the web's pages read it: reading sessions, which refuse to commit, the
    time, the profiles, the PESEL references (``people``) and the cipher of the fields kept
    encrypted (``fields``); no write transaction (``transaction`` does not exist here)."""

    def __init__(self, db: Database, clock: Clock, profiles: ProfileSet, people: PersonRefs,
                 fields: FieldCipher):
        self._db, self.clock, self.profiles, self.people = db, clock, profiles, people
        self.fields = fields

    @contextlib.contextmanager
    def reading(self) -> Iterator:
        with self._db.read_only() as session:
            yield session

    def now(self) -> dt.datetime:
        return self.clock.now()

    def log(self) -> LogReader:
        """The transparency log, read only (signed heads, proofs)."""
        return LogReader(self._db)
