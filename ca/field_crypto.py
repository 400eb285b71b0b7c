"""TOTP secrets and PESELs encrypted at rest, so that a copy of the database alone reveals neither
(the certificates whose subject carries a PESEL too: ca/store/certificates.py).

Envelope encryption: a random AES-256 data key encrypts each value with AES-GCM; the database
keeps the data key only wrapped (RFC 5649) by a key-encryption key that never leaves the HSM
(role ``kek``, hsm-config/pkcs11.toml). Each process unwraps a data key once, on first need
(under a millisecond), and keeps it in memory. Measured on SoftHSM2 2.6 with
bench/field_crypto.py (bench/results/field_crypto.md): CKM_AES_GCM in the HSM costs three to six
times more a value than AES-GCM in process, takes the module lock every signature waits for, and
an enrolment list opens up to 200 PESELs; a network HSM adds a round trip per value. Signing keys
never leave the HSM; a field's data key may (DESIGN.md keeps that rule for keys that sign).

A sealed value is text, ``v1.<data key id>.<base64url(nonce | ciphertext | tag)>``, and its
associated data names its table, column and row, so a value copied to another row or column
does not open.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ca.errors import ConfigurationError, HsmUnavailable, RegCAError
from ca.store.db import Database

__all__ = ["KEK_ROLE", "SEALED_PREFIX", "Place", "FieldCipher", "BrokenSeal", "is_sealed",
           "new_data_key", "totp_secret_of", "pesel_of", "certificate_der_of",
           "certificate_tbs_of"]

KEK_ROLE = "kek"  # the HSM key role (hsm-config/pkcs11.toml)
SEALED_PREFIX = "v1."
_NONCE = 12  # NIST SP 800-38D §8.2.2: a random 96-bit IV, a fresh one for every value
_DOMAIN = b"regca-field-v1\x00"
RECHECK = 15.0  # seconds: how soon a worker seals with a new data key after a rotation


class BrokenSeal(RegCAError):
    """A sealed value does not open: changed, copied from another row, or not sealed at all."""

    code = "broken_seal"


@dataclass(frozen=True)
class Place:
    """Where a value lives: what its associated data binds it to."""

    table: str
    column: str
    row: str

    def aad(self, key_id: int) -> bytes:
        return b"\x00".join([_DOMAIN, self.table.encode(), self.column.encode(),
                             self.row.encode(), str(key_id).encode()])


def totp_secret_of(username: str) -> Place:
    return Place("users", "totp_secret", username)


def pesel_of(enrolment_id: int) -> Place:
    return Place("enrolments", "pesel", str(enrolment_id))


def certificate_der_of(serial: str) -> Place:
    return Place("certificates", "der", serial)


def certificate_tbs_of(serial: str) -> Place:
    return Place("certificates", "tbs", serial)


def is_sealed(value: str | None) -> bool:
    return bool(value) and value.startswith(SEALED_PREFIX)


class FieldCipher:
    """Seals and opens field values with the home's data keys. ``unwrap`` turns a wrapped data
    key into the key (the HSM's key-encryption key); None in a home whose regca.toml has no
    ``kek`` role yet (``regca serve`` adds it, regca/sealed_fields.py): sealing then fails with
    a ConfigurationError, which the fronts answer 503."""

    def __init__(self, db: Database, unwrap: Callable[[bytes], bytes] | None,
                 kek_label: str | None = None):
        self._db, self._unwrap, self._kek_label = db, unwrap, kek_label
        self._keys: dict[int, AESGCM] = {}
        self._current: int | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    @classmethod
    def of(cls, db: Database, hsm, keys) -> FieldCipher:
        """From the home's HSM, when ``keys`` (its configured roles) has the key-encryption
        key."""
        if KEK_ROLE not in keys:
            return cls(db, None)
        only = hsm.only(KEK_ROLE)
        return cls(db, lambda wrapped: only.unwrap_data_key(KEK_ROLE, wrapped),
                   keys[KEK_ROLE].label)

    # -- the data keys ----------------------------------------------------------------------

    def _require_kek(self) -> Callable[[bytes], bytes]:
        if self._unwrap is None:
            raise ConfigurationError(f"hsm.keys.{KEK_ROLE}: this home has no key-encryption key "
                                     "for TOTP secrets and PESELs yet (`regca serve` adds it)")
        return self._unwrap

    def _key(self, key_id: int) -> AESGCM:
        key = self._keys.get(key_id)
        if key is not None:
            return key
        unwrap = self._require_kek()
        with self._lock:
            if key_id not in self._keys:
                from ca.store import data_keys as store
                row = store.get(self._db, key_id)
                if row is None:
                    raise BrokenSeal(f"no data key {key_id} in the database")
                try:
                    self._keys[key_id] = AESGCM(unwrap(row.wrapped))
                except HsmUnavailable as exc:
                    raise HsmUnavailable(
                        f"the HSM's key-encryption key ({self._kek_label!r}) cannot unwrap the "
                        f"data key of TOTP secrets and PESELs: {exc.message}") from None
                except ValueError:
                    raise HsmUnavailable(
                        f"data key {key_id} was not wrapped by the HSM's key-encryption key "
                        f"{self._kek_label!r}") from None
        return self._keys[key_id]

    def current_key_id(self) -> int:
        """The newest data key: the one new values are sealed with, read again every
        RECHECK seconds, so every worker follows a rotation (``regca fields rotate``)."""
        now = time.monotonic()
        if self._current is None or now - self._checked >= RECHECK:
            from ca.store import data_keys as store
            row = store.newest(self._db)
            if row is None:
                raise ConfigurationError("no data key for TOTP secrets and PESELs in the "
                                         "database (`regca serve` makes one)")
            self._current, self._checked = row.id, now
        return self._current

    # -- values -----------------------------------------------------------------------------

    def seal(self, value: str, place: Place) -> str:
        return self.seal_bytes(value.encode(), place)

    def seal_bytes(self, value: bytes, place: Place) -> str:
        """``value`` (a certificate's DER, say) sealed to ``place``, as the same text."""
        key_id = self.current_key_id()
        nonce = os.urandom(_NONCE)
        sealed = self._key(key_id).encrypt(nonce, value, place.aad(key_id))
        return f"{SEALED_PREFIX}{key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, sealed: str, place: Place) -> str:
        """The value sealed at ``place``; BrokenSeal for anything else (a clear value too: the
        database is not trusted to say whether a value is sealed)."""
        return self.open_bytes(sealed, place).decode()

    def open_bytes(self, sealed: str, place: Place) -> bytes:
        """The bytes sealed at ``place`` (``seal_bytes``); BrokenSeal as ``open``."""
        try:
            version, key_id, body = sealed.split(".")
            raw = base64.urlsafe_b64decode(body)
            number = int(key_id)
        except (AttributeError, ValueError):
            raise BrokenSeal(f"{place.table}.{place.column} of {place.row!r} is not a sealed "
                             "value") from None
        if version + "." != SEALED_PREFIX or len(raw) < _NONCE + 16:
            raise BrokenSeal(f"{place.table}.{place.column} of {place.row!r} is not a sealed "
                             "value")
        try:
            return self._key(number).decrypt(raw[:_NONCE], raw[_NONCE:], place.aad(number))
        except InvalidTag:
            raise BrokenSeal(f"{place.table}.{place.column} of {place.row!r} does not open "
                             "with its data key: changed, or copied from elsewhere") from None

    def open_optional(self, sealed: str | None, place: Place) -> str | None:
        return self.open(sealed, place) if sealed else None

    def __repr__(self) -> str:
        return "<FieldCipher>"


def new_data_key(db: Database, hsm, keys, at) -> int:
    """A data key made and wrapped in the HSM, recorded in the database; its id. At ``regca
    init`` and when an older home gets its key-encryption key."""
    if KEK_ROLE not in keys:
        raise ConfigurationError(f"hsm.keys.{KEK_ROLE}: no key-encryption key configured")
    from ca.store import data_keys as store
    wrapped = hsm.only(KEK_ROLE).new_wrapped_data_key(KEK_ROLE)
    with db.transaction() as s:
        return store.add(s, keys[KEK_ROLE].label, wrapped, at)
