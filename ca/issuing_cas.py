"""The issuing CA's generations: which one issues now, and every one that still publishes.

The issuing CA rolls over at a root ceremony (``regca ceremony issuing-ca``,
ca/issuing_rollover.py): a new key in the HSM, its certificate signed by the root, recorded as
generation ``n`` of role ``issuing`` in ``service_certificates`` beside the services'
generations. Each generation is a CA of its own, with its own name in URLs and in the store:
``issuing`` for generation 1 (the name every earlier certificate's CRL distribution point, AIA
and OCSP CertID already carry) and ``issuing-g<n>`` after it. So each chain has its own CRL
(``/crl/<name>.crl``), its own certificate (``/ca/<name>.crt``) and its own OCSP answers.

Exactly one generation is *active*: it issues every new certificate. The others are
*retired*: they issue nothing more, but their keys still sign their CRLs and OCSP answers
until their certificates end (RFC 5280 §5: a CA publishes status for what it issued, and no
certificate outlives its issuer, ca/issuance.py clamps notAfter). Every process reads the
generations again every ``RECHECK`` seconds, so workers follow a ceremony without a restart.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError

from ca.errors import NotFound
from ca.rolekeys import RECHECK, KeyPair, key_of
from ca.store import service_certificates as generations_store
from ca.store.db import Database
from ca.store.service_certificates import Generation

__all__ = ["ROLE", "PROFILE", "ca_name", "generation_of", "IssuingCas", "IssuingKeys"]

ROLE = "issuing"  # the HSM key role (hsm-config/pkcs11.toml) and generation 1's CA name
PROFILE = "issuing-ca"


def ca_name(generation: int) -> str:
    """The CA name of a generation, as URLs and the store's ``issuer`` column carry it."""
    return ROLE if generation == 1 else f"{ROLE}-g{generation}"


def generation_of(name: str) -> int | None:
    """The generation a CA name stands for, or None when it names no issuing CA."""
    if name == ROLE:
        return 1
    number = name.removeprefix(f"{ROLE}-g")
    if number == name or not number.isdigit() or number.startswith("0"):
        return None
    return int(number)


class IssuingCas:
    """The generations and their certificates, no key: what the OCSP front, the CRL and
    certificate repository and ``regca status`` read. Re-read every ``recheck`` seconds."""

    def __init__(self, db: Database, recheck: float = RECHECK):
        self._db, self._recheck = db, recheck
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._generations: tuple[Generation, ...] = ()
        self._certificates: dict[str, x509.Certificate] = {}

    def forget(self) -> None:
        """Read again on the next call (this process just recorded a generation)."""
        with self._lock:
            self._read_at = float("-inf")

    def _current(self) -> tuple[tuple[Generation, ...], dict[str, x509.Certificate]]:
        with self._lock:
            now = time.monotonic()
            if now - self._read_at >= self._recheck:
                try:
                    found = tuple(generations_store.generations_in(self._db, ROLE))
                except SQLAlchemyError:
                    if not self._generations:
                        raise
                    # The database is away: what was read stands (an OCSP front answering
                    # from its mirror, a CRL served from its file); read again later.
                    self._read_at = now
                    return self._generations, self._certificates
                if [g.serial for g in found] != [g.serial for g in self._generations]:
                    self._generations = found
                    self._certificates = {ca_name(g.generation):
                                          x509.load_der_x509_certificate(g.der) for g in found}
                else:  # the active flag may have moved
                    self._generations = found
                self._read_at = now
            return self._generations, self._certificates

    def generations(self) -> tuple[Generation, ...]:
        return self._current()[0]

    def names(self) -> list[str]:
        """Every generation's CA name, oldest first."""
        return list(self._current()[1])

    def certificates(self) -> dict[str, x509.Certificate]:
        """CA name -> certificate, oldest first (the same dict until a generation is added)."""
        return self._current()[1]

    def certificate(self, name: str) -> x509.Certificate:
        found = self._current()[1].get(name)
        if found is None:
            raise NotFound(f"no issuing CA {name!r} (is the home initialised?)")
        return found

    def active(self) -> Generation:
        for g in self.generations():
            if g.active:
                return g
        raise NotFound("no active issuing CA certificate (is the home initialised?)")

    def active_name(self) -> str:
        return ca_name(self.active().generation)

    def publishing(self, now: dt.datetime) -> list[str]:
        """The generations that still sign CRLs and OCSP answers: all whose certificate has
        not ended (what they issued ends no later)."""
        return [name for name, cert in self.certificates().items()
                if cert.not_valid_after_utc >= now]

    def __repr__(self) -> str:
        return "<IssuingCas>"


class IssuingKeys:
    """The generations' keys: the active one issues; each one signs its own CRLs and OCSP
    answers. A key is fetched from the HSM on first use and checked against its certificate
    then (KeyMismatch)."""

    def __init__(self, hsm, cas: IssuingCas):
        self._hsm = hsm.only(ROLE)
        self.cas = cas
        self._lock = threading.Lock()
        self._pairs: dict[str, KeyPair] = {}

    def pair(self, name: str) -> KeyPair:
        certificate = self.cas.certificate(name)
        with self._lock:
            found = self._pairs.get(name)
            if found is not None and found.certificate is certificate:
                return found
        generation = next(g for g in self.cas.generations()
                          if ca_name(g.generation) == name)
        hsm = self._hsm.with_key(ROLE, key_of(self._hsm, generation))
        found = KeyPair(certificate, hsm.private_key(ROLE, certificate))
        with self._lock:
            self._pairs[name] = found
        return found

    def active(self) -> tuple[str, KeyPair]:
        """The active generation's CA name and key pair: what issues now."""
        name = self.cas.active_name()
        return name, self.pair(name)

    def __repr__(self) -> str:
        return "<IssuingKeys>"
