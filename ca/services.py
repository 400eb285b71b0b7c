"""The narrow things the composition hands to the fronts instead of a ``CaContext``.

A context reaches the whole store and every HSM key; a front gets only what it uses (issue 13,
"No front can reach a key it does not use"): OCSP a status source and the responder's key, the
TSA its own key, the signing API the seal key. Each object here is built once by the composition
(regca/roles.py) from the context, which the fronts never see. ``RoleKey`` (ca/rolekeys.py)
follows its service's active key generation, so a rollover reaches every front without a
restart.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from cryptography import x509

from ca.clock import Clock
from ca.errors import ConfigurationError, NotFound
from ca.ocsp_cache import save_current
from ca.ocsp_signer import OcspSigner
from ca.rolekeys import RECHECK, KeyPair, RoleKey, ServiceGenerations
from ca.store import ocsp as ocsp_store
from ca.store.db import Database
from ca.store.ocsp import ResponseRow

__all__ = ["RoleKey", "ScopedKeys", "ResponderKeys", "ResponseStore", "OcspServices"]


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
    app is created before the fork)."""

    def __init__(self, db: Database):
        self._db = db
        self._reader: ocsp_store.FastReader | None = None

    @property
    def _read(self) -> ocsp_store.FastReader:
        if self._reader is None:
            self._reader = ocsp_store.FastReader(self._db)
        return self._reader

    def response(self, serial: str, hash_algorithm: str):
        """``(der, this_update, next_update)`` of the stored response, or None."""
        return self._read.response(serial, hash_algorithm)

    def status(self, serial: str) -> tuple | None:
        """``(serial, issuer, status, revoked_at, reason)``, or None."""
        return self._read.status(serial)

    def save_current(self, pairs: list[tuple[tuple, ResponseRow]]) -> int:
        return save_current(self._db, pairs)


@dataclass(frozen=True)
class OcspServices:
    """Everything the OCSP front is given."""

    signer: OcspSigner  # over ResponderKeys
    store: ResponseStore
    clock: Clock
