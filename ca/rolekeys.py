"""A service's signing key that follows rollover: the generation mechanism's reading half.

Service keys (the OCSP responder, the TSA, the seals: roles of ``SERVICE_PROFILES``; a JST's
own seal is the same role with ``scope`` = its TERYT) come in generations. The store says which
generation is active (``ca/store/service_certificates.py``); ``ca/rollover.py`` makes a new one
(key in the HSM, certificate, record) and is the writing half.

A ``RoleKey`` is what signs: it pairs the active generation's certificate with its HSM key,
and asks the store again every ``RECHECK`` seconds (one indexed read) whether another
generation became active. So every running worker switches to a new key within that interval
after a rollover commits, without a restart (CONTRACT.md: a rollover takes effect in every
worker within 15 s). Whoever caches things derived from a pair (an OCSP encoder, a TSA token
signer, a seal identity) compares ``pair().certificate`` with what it built them from.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import NamedTuple

from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError

from ca.errors import ConfigurationError, HsmUnavailable, KeyMismatch, NotFound
from ca.store import service_certificates as generations_store
from ca.store.db import Database
from ca.store.service_certificates import Generation

__all__ = ["KeyPair", "RoleKey", "CertifiedKey", "ServiceGenerations", "SERVICE_PROFILES",
           "RECHECK"]

# The certificate profile of each service role whose key rolls over (hsm-config/pkcs11.toml).
SERVICE_PROFILES = {"ocsp": "ocsp-responder", "tsa": "tsa", "seal": "seal"}
# Seconds between two looks at the store for a new active generation: well inside the 15 s
# the contract allows, and one indexed read per role and worker every few seconds.
RECHECK = 5.0


class KeyPair(NamedTuple):
    """A certificate and the HSM key it certifies (checked when the pair is made)."""

    certificate: x509.Certificate
    key: object  # keys.objects.Pkcs11EcKey or Pkcs11RsaKey: sign() runs in the HSM


class ServiceGenerations:
    """The store's view a ``RoleKey`` is given: which generation of a service is active."""

    def __init__(self, db: Database):
        self._db = db

    def active(self, role: str, scope: str = "") -> Generation:
        found = generations_store.active_in(self._db, role, scope)
        if found is None:
            whose = f" of JST {scope}" if scope else ""
            raise NotFound(f"no active {role} certificate{whose} (is the home initialised?)")
        return found


class RoleKey:
    """One service role's key (the centre's, or a JST's with ``scope``) beside the certificate
    of its active generation, and nothing else of the HSM (``Hsm.only``). The key is fetched on
    first use, so a front answering from a cache starts without the HSM; pairing is checked
    then (KeyMismatch, keys/objects.py)."""

    def __init__(self, role: str, hsm, generations: ServiceGenerations, scope: str = "",
                 recheck: float = RECHECK):
        self.role, self.scope = role, scope
        self._hsm = hsm.only(role)
        self._generations = generations
        self._recheck = recheck
        self._lock = threading.Lock()
        self._active: Generation | None = None
        self._pair: KeyPair | None = None
        self._checked = float("-inf")

    def _current(self) -> Generation:
        """The active generation, read again once ``recheck`` seconds have passed."""
        now = time.monotonic()
        if self._active is None or now - self._checked >= self._recheck:
            try:
                found = self._generations.active(self.role, self.scope)
            except SQLAlchemyError:
                if self._active is None:
                    raise
                # The database is away: keep signing with the generation known, and look
                # again in ``recheck`` seconds (a front answering from its mirror needs it).
                self._checked = now
                return self._active
            if self._active is None or found.serial != self._active.serial:
                self._active, self._pair = found, None
            self._checked = now
        return self._active

    @property
    def generation(self) -> int:
        with self._lock:
            return self._current().generation

    @property
    def certificate(self) -> x509.Certificate:
        """The active generation's certificate (no HSM needed)."""
        with self._lock:
            active = self._current()
            if self._pair is not None:
                return self._pair.certificate
            return x509.load_der_x509_certificate(active.der)

    def pair(self) -> KeyPair:
        with self._lock:
            active = self._current()
            if self._pair is None:
                certificate = x509.load_der_x509_certificate(active.der)
                hsm = self._hsm.with_key(self.role, key_of(self._hsm, active))
                self._pair = KeyPair(certificate, hsm.private_key(self.role, certificate))
            return self._pair

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
        return f"<RoleKey role={self.role!r} scope={self.scope!r}>"


def key_of(hsm, generation: Generation):
    """The HSM key (``KeyConfig``) of a recorded generation: as recorded, or as regca.toml
    derives it for a generation recorded without label and id."""
    base = hsm.config.key(generation.role)
    if generation.key_label is None or generation.key_id is None:
        return base.generation(generation.generation, generation.scope)
    try:
        key_id = bytes.fromhex(generation.key_id)
    except ValueError:
        raise ConfigurationError(f"service certificate {generation.serial}: key id "
                                 f"{generation.key_id!r} is not hex") from None
    return replace(base, label=generation.key_label, id=key_id)


class CertifiedKey:
    """A CA's or the transparency log's key: one certificate for its whole life (a new one
    comes from a root ceremony, not from a rollover), paired with its HSM key on first use and
    checked then (KeyMismatch). The same face as ``RoleKey`` for whoever only signs."""

    def __init__(self, role: str, certificate: x509.Certificate, hsm):
        self.role, self.certificate = role, certificate
        self._hsm = hsm.only(role)
        self._lock = threading.Lock()
        self._pair: KeyPair | None = None

    def pair(self) -> KeyPair:
        with self._lock:
            if self._pair is None:
                self._pair = KeyPair(self.certificate,
                                     self._hsm.private_key(self.role, self.certificate))
            return self._pair

    def check(self) -> None:
        """At start-up: refuse a certificate for another key; an HSM away is left to use."""
        try:
            self.pair()
        except KeyMismatch:
            raise
        except HsmUnavailable:
            pass
