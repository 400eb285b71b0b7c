"""The narrow things the composition hands to the fronts instead of a ``CaContext``.

A context reaches the whole store and every HSM key; a front gets only what it uses (issue 13,
"No front can reach a key it does not use"): OCSP a status source and the responder's key, the
TSA its own key, the signing API the seal key. Each object here is built once by the composition
(regca/roles.py) from the context, which the fronts never see.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError

from ca.clock import Clock
from ca.context import KeyPair
from ca.errors import (
    ConfigurationError,
    DependencyUnavailable,
    HsmUnavailable,
    KeyMismatch,
    NotFound,
)
from ca.ocsp_cache import kept_current
from ca.ocsp_mirror import ResponseMirror
from ca.ocsp_signer import OcspSigner
from ca.store import ocsp as ocsp_store
from ca.store.db import Database
from ca.store.ocsp import ResponseRow
from keys.hsm import Hsm

__all__ = ["RoleKey", "ResponderKeys", "ResponseStore", "OcspServices"]


class RoleKey:
    """One HSM role's key beside the certificate that certifies it, and nothing else of the HSM
    (``Hsm.only``). The key is fetched on first use, so a front answering from a cache starts
    without the HSM; pairing is checked then (KeyMismatch, keys/objects.py)."""

    def __init__(self, role: str, certificate: x509.Certificate, hsm: Hsm):
        self.role, self.certificate = role, certificate
        self._hsm = hsm.only(role)
        self._key: object | None = None
        self._lock = threading.Lock()

    def pair(self) -> KeyPair:
        with self._lock:
            if self._key is None:
                self._key = self._hsm.private_key(self.role, self.certificate)
            return KeyPair(self.certificate, self._key)

    def check(self) -> None:
        """At start-up: refuse (KeyMismatch) a certificate for another key; a key the HSM
        cannot give now is left to its first use and to /healthz (CaContext.check_keys)."""
        try:
            self.pair()
        except KeyMismatch:  # a kind of HsmUnavailable, but not one to wait out
            raise
        except HsmUnavailable:
            pass

    def __repr__(self) -> str:
        return f"<RoleKey role={self.role!r}>"


class ResponderKeys:
    """What the OCSP front signs with (ca.ocsp_signer.SignerSource): the CA certificates it
    answers for and the delegated responder's key (RFC 6960 §4.2.2.2). No CA key: the root's
    responses are pre-signed by the refresh job, which runs in the core."""

    def __init__(self, cas: dict[str, x509.Certificate], responder: RoleKey, clock: Clock):
        self._cas, self.responder, self.clock = dict(cas), responder, clock

    def certificate_of(self, profile: str) -> x509.Certificate:
        try:
            return self._cas[profile]
        except KeyError:
            raise NotFound(f"the OCSP responder knows no {profile} certificate") from None

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
