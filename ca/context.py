"""The core composed for one home: settings, database, HSM, profiles, clock, authorities.

Everything above ``ca/`` (command line, services) gets one of these and asks it for what it
needs; it opens nothing until asked, so a process that only reads the database never touches
the HSM.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from ca.audit import Event
from ca.ceremony_policy import CeremonyPolicy, load_ceremony_policy
from ca.certbuilder import Authority
from ca.clock import Clock, SystemClock
from ca.config import Settings, load_settings
from ca.errors import ConfigurationError, HsmUnavailable, KeyMismatch, NotFound
from ca.field_crypto import FieldCipher
from ca.personal_data import PersonRefs
from ca.profiles import ProfileSet, load_profiles
from ca.rolekeys import SERVICE_PROFILES, KeyPair, RoleKey, ServiceGenerations
from ca.store import audit as audit_store
from ca.store import certificates as cert_store
from ca.store.db import Database
from ca.urls import CA_NAMES, PublicUrls
from keys.hsm import Hsm

if TYPE_CHECKING:  # the ORM: `regca issue` signs and stores without loading it
    from sqlalchemy.orm import Session

    from ca.store.models import Organization

__all__ = ["CaContext", "CA_PROFILES", "KEY_PROFILES", "KeyPair"]

# The profile of each CA certificate, by the name URLs use.
CA_PROFILES = {"root": "root-ca", "issuing": "issuing-ca"}
# The profile of the certificate each HSM key role signs under (hsm-config/pkcs11.toml).
KEY_PROFILES = {**CA_PROFILES, **SERVICE_PROFILES, "audit": "audit-log"}
_SERVICE_ROLES = {profile: role for role, profile in SERVICE_PROFILES.items()}



class CaContext:
    def __init__(self, settings: Settings, clock: Clock | None = None):
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.urls = PublicUrls(settings.public_url, settings.cps_url)
        self._authorities: dict[str, Authority] = {}
        self._certificates: dict[str, x509.Certificate] = {}
        self._role_keys: dict[tuple[str, str], RoleKey] = {}
        self._pid = os.getpid()

    @classmethod
    def open(cls, home: Path, clock: Clock | None = None) -> CaContext:
        return cls(load_settings(home), clock)

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.database_url)

    @cached_property
    def hsm(self) -> Hsm:
        return Hsm(self.settings.hsm)

    @cached_property
    def profiles(self) -> ProfileSet:
        return load_profiles(self.settings.policies_dir)

    @cached_property
    def ceremony_policy(self) -> CeremonyPolicy:
        """How long what the root signs at a ceremony lasts (policies/ceremonies.toml)."""
        return load_ceremony_policy(self.settings.policies_dir)

    def online_cas(self) -> list[str]:
        """The CAs whose keys sign while the service runs: not the root, whose token is
        offline between ceremonies."""
        return [ca for ca in CA_NAMES if not self.settings.hsm.offline(ca)]

    def with_root_pin(self, pin: str) -> CaContext:
        """This home for one root ceremony: the same database and clock, the root's token
        logged into with ``pin`` (ca/ceremony.py; never a PIN read from the home)."""
        token = self.settings.hsm.key("root").token
        hsm = self.settings.hsm.with_ceremony_pin(token, pin)
        ceremony = CaContext(dataclasses.replace(self.settings, hsm=hsm), self.clock)
        ceremony.__dict__["db"] = self.db  # one pool per process
        return ceremony

    @property
    def operator(self) -> Organization:
        """The centre's operator (the voivodeship office in the demo), named in CA subjects."""
        from ca.store.models import Organization
        op = self.settings.operator
        return Organization(teryt=op.get("teryt"), name=op["name"], nip=op.get("nip"))

    def now(self) -> dt.datetime:
        return self.clock.now()

    def audit(self, session: Session, event: Event) -> int:
        return audit_store.append(session, event, self.now())

    def role_key(self, role: str, scope: str = "") -> RoleKey:
        """A service role's key following its active generation (ca/rolekeys.py), one per
        process and (role, scope)."""
        if role not in SERVICE_PROFILES:
            raise ConfigurationError(f"hsm.keys.{role}: not a service key that rolls over")
        key = self._role_keys.get((role, scope))
        if key is None:
            key = RoleKey(role, self.hsm, ServiceGenerations(self.db), scope)
            self._role_keys[(role, scope)] = key
        return key

    def certificate_of(self, profile: str) -> x509.Certificate:
        """The current certificate of a CA or service profile (a CA's cached per process; a
        service's is its active generation's, which a rollover changes)."""
        if profile in _SERVICE_ROLES:
            return self.role_key(_SERVICE_ROLES[profile]).certificate
        cert = self._certificates.get(profile)
        if cert is None:
            der = cert_store.current_der(self.db, profile)
            if der is None:
                raise NotFound(f"no issued {profile} certificate (is the home initialised?)")
            cert = x509.load_der_x509_certificate(der)
            self._certificates[profile] = cert
        return cert

    @cached_property
    def people(self) -> PersonRefs:
        """PESELs as HSM-keyed references where the audit log keeps them (ca/personal_data.py)."""
        return PersonRefs.of(self.hsm, self.settings.hsm.keys)

    @cached_property
    def fields(self) -> FieldCipher:
        """TOTP secrets and PESELs sealed at rest by a data key the HSM wraps
        (ca/field_crypto.py)."""
        return FieldCipher.of(self.db, self.hsm, self.settings.hsm.keys)

    def key_pair(self, role: str) -> KeyPair:
        """The role's current certificate and its HSM key; KeyMismatch when the certificate
        certifies another key."""
        if role not in KEY_PROFILES:
            raise ConfigurationError(f"hsm.keys.{role}: no certificate profile for this role")
        if role in SERVICE_PROFILES:
            return self.role_key(role).pair()
        certificate = self.certificate_of(KEY_PROFILES[role])
        return KeyPair(certificate, self.hsm.private_key(role, certificate))

    def check_keys(self, roles: tuple[str, ...] | None = None) -> None:
        """At start-up: refuse (KeyMismatch) when a certificate does not certify its HSM key,
        for ``roles`` (default: every configured key). A key the HSM cannot give now is left to
        its first use and to /healthz, so an OCSP responder answering from its cache, or a
        service whose root token is offline, still starts."""
        for role in roles or [r for r in self.settings.hsm.keys if r in KEY_PROFILES]:
            try:
                self.key_pair(role)
            except KeyMismatch:
                raise
            except HsmUnavailable:
                continue

    def authority(self, name: str) -> Authority:
        if name not in CA_NAMES:
            raise ConfigurationError(f"unknown CA {name!r}")
        auth = self._authorities.get(name)
        if auth is None:
            auth = Authority(name, *self.key_pair(name))
            self._authorities[name] = auth
        return auth

    def chain(self) -> list[x509.Certificate]:
        """Issuing CA then root, as relying parties want them."""
        return [self.certificate_of("issuing-ca"), self.certificate_of("root-ca")]

    def forget_cached(self) -> None:
        self._authorities.clear()
        self._certificates.clear()
        self._role_keys.clear()
