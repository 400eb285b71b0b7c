"""The core composed for one home: settings, database, HSM, profiles, clock, authorities.

Everything above ``ca/`` (command line, services) gets one of these and asks it for what it
needs; it opens nothing until asked, so a process that only reads the database never touches
the HSM.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cached_property
from pathlib import Path

from cryptography import x509
from sqlalchemy.orm import Session

from ca.audit import Event
from ca.certbuilder import Authority
from ca.clock import Clock, SystemClock
from ca.config import Settings, load_settings
from ca.errors import ConfigurationError, NotFound
from ca.hsm import Hsm
from ca.profiles import ProfileSet, load_profiles
from ca.store import audit as audit_store
from ca.store import certificates as cert_store
from ca.store.db import Database
from ca.store.models import Organization
from ca.urls import CA_NAMES, PublicUrls

__all__ = ["CaContext", "CA_PROFILES"]

# The profile of each CA certificate, by the name URLs use.
CA_PROFILES = {"root": "root-ca", "issuing": "issuing-ca"}


class CaContext:
    def __init__(self, settings: Settings, clock: Clock | None = None):
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.urls = PublicUrls(settings.public_url)
        self._authorities: dict[str, Authority] = {}
        self._certificates: dict[str, x509.Certificate] = {}
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

    @property
    def operator(self) -> Organization:
        """The centre's operator (the voivodeship office in the demo), named in CA subjects."""
        op = self.settings.operator
        return Organization(teryt=op.get("teryt"), name=op["name"], nip=op.get("nip"))

    def now(self) -> dt.datetime:
        return self.clock.now()

    def audit(self, session: Session, event: Event) -> int:
        return audit_store.append(session, event, self.now())

    def audit_many(self, session, events: list[Event]) -> int:
        """Append several events in one go (one head lock); ``session`` may be a connection."""
        at = self.now()
        return audit_store.append_many(session, [(at, e) for e in events])

    def certificate_of(self, profile: str) -> x509.Certificate:
        """The current certificate of a CA or service profile (cached per process)."""
        cert = self._certificates.get(profile)
        if cert is None:
            with self.db.reading() as s:
                row = cert_store.current_for_profile(s, profile)
            if row is None:
                raise NotFound(f"no issued {profile} certificate (is the home initialised?)")
            cert = x509.load_der_x509_certificate(row.der)
            self._certificates[profile] = cert
        return cert

    def authority(self, name: str) -> Authority:
        if name not in CA_NAMES:
            raise ConfigurationError(f"unknown CA {name!r}")
        auth = self._authorities.get(name)
        if auth is None:
            auth = Authority(name, self.certificate_of(CA_PROFILES[name]),
                             self.hsm.private_key(name))
            self._authorities[name] = auth
        return auth

    def chain(self) -> list[x509.Certificate]:
        """Issuing CA then root, as relying parties want them."""
        return [self.certificate_of("issuing-ca"), self.certificate_of("root-ca")]

    def forget_cached(self) -> None:
        self._authorities.clear()
        self._certificates.clear()
