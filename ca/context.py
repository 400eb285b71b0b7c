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
from ca.issuing_cas import ROLE as ISSUING
from ca.issuing_cas import IssuingCas, IssuingKeys, generation_of
from ca.personal_data import PersonRefs
from ca.profiles import ProfileSet, load_profiles
from ca.rolekeys import SERVICE_PROFILES, KeyPair, RoleKey, ServiceGenerations
from ca.store import audit as audit_store
from ca.store import certificates as cert_store
from ca.store.db import Database
from ca.urls import PublicUrls
from keys.hsm import Hsm

if TYPE_CHECKING:  # the ORM: `regca issue` signs and stores without loading it
    from sqlalchemy.orm import Session

    from ca.store.models import Organization

__all__ = ["CaContext", "CA_PROFILES", "KEY_PROFILES", "KeyPair"]

# The profile of each CA certificate, by its role (the issuing CA's generations have names of
# their own: ca/issuing_cas.py).
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

    @cached_property
    def issuing_cas(self) -> IssuingCas:
        """The issuing CA's generations and their certificates (ca/issuing_cas.py)."""
        return IssuingCas(self.db)

    @cached_property
    def issuing_keys(self) -> IssuingKeys:
        return IssuingKeys(self.hsm, self.issuing_cas)

    def ca_names(self) -> list[str]:
        """Every CA's name: the root and each issuing-CA generation, oldest first."""
        return ["root", *self.issuing_cas.names()]

    def online_cas(self) -> list[str]:
        """The CAs whose keys sign while the service runs: not the root, whose token is
        offline between ceremonies; every issuing-CA generation whose certificate has not
        ended, the retired ones included (they still publish CRLs and OCSP answers)."""
        names = [] if self.settings.hsm.offline("root") else ["root"]
        if not self.settings.hsm.offline(ISSUING):
            names += self.issuing_cas.publishing(self.now())
        return names

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
        if profile == CA_PROFILES[ISSUING]:  # the active generation: a ceremony changes it
            return self.issuing_cas.certificate(self.issuing_cas.active_name())
        cert = self._certificates.get(profile)
        if cert is None:
            der = cert_store.current_der(self.db, profile)
            if der is None:
                raise NotFound(f"no issued {profile} certificate (is the home initialised?)")
            cert = x509.load_der_x509_certificate(der)
            self._certificates[profile] = cert
        return cert

    def ca_certificate(self, name: str) -> x509.Certificate:
        """The certificate of the CA named ``name`` (``root``, ``issuing``, ``issuing-g2``...)."""
        if name == "root":
            return self.certificate_of(CA_PROFILES["root"])
        if generation_of(name) is None:
            raise NotFound(f"no CA named {name!r}")
        return self.issuing_cas.certificate(name)

    def ca_certificates(self) -> dict[str, x509.Certificate]:
        """CA name -> certificate, for every CA (what OCSP CertIDs may name)."""
        return {"root": self.certificate_of(CA_PROFILES["root"]),
                **self.issuing_cas.certificates()}

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
        """The role's current certificate and its HSM key (for an issuing-CA generation's name:
        that generation's); KeyMismatch when the certificate certifies another key."""
        if generation_of(role) is not None:
            return self.issuing_keys.pair(role)
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
                if role == ISSUING:
                    self.issuing_keys.active()
                else:
                    self.key_pair(role)
            except KeyMismatch:
                raise
            except HsmUnavailable:
                continue

    def authority(self, name: str) -> Authority:
        """The CA named ``name`` as a signer (``issuing``: generation 1; what issues now is
        ``issuing_authority``)."""
        if name != "root" and generation_of(name) is None:
            raise ConfigurationError(f"unknown CA {name!r}")
        pair = self.key_pair(name)
        auth = self._authorities.get(name)
        if auth is None or auth.certificate is not pair.certificate:
            auth = self._authorities[name] = Authority(name, *pair)
        return auth

    def issuing_authority(self) -> Authority:
        """The active issuing-CA generation: the one every new certificate is issued by."""
        return self.authority(self.issuing_cas.active_name())

    def chain(self) -> list[x509.Certificate]:
        """The active issuing CA then the root, as relying parties want them."""
        return [self.certificate_of("issuing-ca"), self.certificate_of("root-ca")]

    def chain_of(self, name: str) -> list[x509.Certificate]:
        """The chain of the CA named ``name``: itself, then the root unless it is the root."""
        if name == "root":
            return [self.ca_certificate("root")]
        return [self.ca_certificate(name), self.ca_certificate("root")]

    def close(self) -> None:
        """Close the database connections this context opened (``Database.close``); the HSM's
        sessions end with the process."""
        if "db" in self.__dict__:
            self.db.close()

    def forget_cached(self) -> None:
        self._authorities.clear()
        self._certificates.clear()
        self._role_keys.clear()
        if "issuing_cas" in self.__dict__:
            self.issuing_cas.forget()
