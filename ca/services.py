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
from dataclasses import dataclass

from cryptography import x509

from ca.clock import Clock
from ca.errors import ConfigurationError, NotFound
from ca.ocsp_cache import save_current
from ca.ocsp_signer import OcspSigner
from ca.rolekeys import KeyPair, RoleKey
from ca.store import ocsp as ocsp_store
from ca.store.db import Database
from ca.store.ocsp import ResponseRow

__all__ = ["RoleKey", "ResponderKeys", "ResponseStore", "OcspServices"]


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
