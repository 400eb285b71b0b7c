"""What the registration authority's services run on, instead of the whole ``CaContext``.

The RA records (enrolments, log-ins, users, API keys, JST, tokens) in the store, opens the
transactions and writes the audit events; to issue or revoke it asks the CA (``IssuingCa``,
ca/services.py), whose keys it never holds. The composition (regca/roles.py) builds one
``RegistrationAuthority`` and hands it, with a ``ca.services.ReadOnlyStore`` for the reads, to
the web and the RA API.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Protocol

from cryptography import x509

from ca.audit import Event
from ca.clock import Clock
from ca.field_crypto import FieldCipher
from ca.personal_data import PersonRefs
from ca.profiles import ProfileSet
from ca.services import IssuingCa
from ca.store import audit as audit_store
from ca.store.db import Database
from ca.transparency import LogReader
from ra.backoff import Backoff
from ra.settings import RaSettings

__all__ = ["RegistrationAuthority", "Reader", "Recorder"]


class Reader(Protocol):
    """What the RA's reads need (a ``ReadOnlyStore`` or the ``RegistrationAuthority``)."""

    profiles: ProfileSet
    people: PersonRefs
    fields: FieldCipher

    def reading(self) -> contextlib.AbstractContextManager: ...

    def now(self) -> dt.datetime: ...

    def log(self) -> LogReader: ...


class Recorder(Protocol):
    """What the RA's records that ask nothing of the CA need (users, JST, API keys, log-ins):
    the store, the time and the audit log; the operator's context has them too."""

    db: Database

    def now(self) -> dt.datetime: ...

    def audit(self, session, event: Event) -> int: ...


class RegistrationAuthority:
    """The RA: its store, clock and profiles, the CA it asks to issue and revoke, the PESEL
    references its audit events and the auditor's searches use, the cipher of the fields it
    keeps encrypted (TOTP secrets, PESELs), and its own settings (pickup codes' validity, the
    back-off of guessed secrets)."""

    def __init__(self, db: Database, clock: Clock, profiles: ProfileSet, ca: IssuingCa,
                 people: PersonRefs, fields: FieldCipher, settings: RaSettings | None = None):
        self.db, self.clock, self.profiles, self.ca = db, clock, profiles, ca
        self.people, self.fields = people, fields
        self.settings = settings or RaSettings()

    @property
    def backoff(self) -> Backoff:
        return self.settings.backoff

    def now(self) -> dt.datetime:
        return self.clock.now()

    def audit(self, session, event: Event) -> int:
        return audit_store.append(session, event, self.now())

    @contextlib.contextmanager
    def reading(self) -> Iterator:
        with self.db.reading() as session:
            yield session

    def chain(self) -> list[x509.Certificate]:
        return self.ca.chain()

    def log(self) -> LogReader:
        """The transparency log, read only."""
        return LogReader(self.db)

    def __repr__(self) -> str:
        return "<RegistrationAuthority>"
