"""PKCS#11 access: one loaded module per process, one session per token, one lock per module.

Measured facts this module is built around (DESIGN.md, "Keys"):
- python-pkcs11 calls ``C_Initialize(NULL)``, which switches SoftHSM2's own locking off, so every
  call into the module goes through one lock;
- sessions never cross a fork: a child re-initialises the module before its first call;
- a lost token store breaks open sessions until the module is finalised and initialised again, and
  concurrent log-ins from several processes sometimes fail with NoSuchToken/GeneralError, so such
  failures re-initialise and retry a bounded number of times;
- a session that lived through a lost store does not always say so: it reports the token's keys
  missing (NoSuchKey) or an unlisted error, so any failure on a module initialised before the
  call is retried once on a module initialised for it, and only that answer is believed;
- SoftHSM2 keeps one log-in per process and token, so each token is logged in once per process.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pkcs11
from cryptography.hazmat.primitives import serialization
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11e
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key

from ca.config import HsmConfig, KeyConfig, TokenConfig
from ca.errors import ConfigurationError, HsmUnavailable

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["Hsm", "load_module", "CURVES", "error_listeners"]

T = TypeVar("T")

CURVES = {"ec-p256": "secp256r1", "ec-p384": "secp384r1", "ec-p521": "secp521r1"}

# Failures after which a fresh C_Initialize and a new session may succeed.
_RECOVERABLE = (
    p11e.SessionHandleInvalid, p11e.SessionClosed, p11e.DeviceRemoved, p11e.DeviceError,
    p11e.TokenNotPresent, p11e.GeneralError, p11e.NoSuchToken, p11e.KeyHandleInvalid,
    p11e.ObjectHandleInvalid, p11e.UserNotLoggedIn, p11e.TokenNotRecognised,
)
_ATTEMPTS = 4
_SIGN_CAPS = MechanismFlag.SIGN | MechanismFlag.VERIFY
SECRET_ALGORITHMS = ("hmac-sha256",)
WRAPPING_ALGORITHMS = ("aes-256",)  # a key-encryption key: wraps and unwraps, nothing else
_WRAP_CAPS = MechanismFlag.WRAP | MechanismFlag.UNWRAP
# RFC 5649 (AES key wrap with padding): authenticated, so a changed wrapped key fails to unwrap
_WRAP_MECHANISM = Mechanism.AES_KEY_WRAP_PAD
DATA_KEY_BITS = 256


def _object_class(key: KeyConfig) -> ObjectClass:
    """The class of the object that is the role's key: its private half, or the secret."""
    return (ObjectClass.SECRET_KEY
            if key.algorithm in SECRET_ALGORITHMS + WRAPPING_ALGORITHMS
            else ObjectClass.PRIVATE_KEY)


@dataclass
class _Module:
    """Process-wide state of one PKCS#11 library (python-pkcs11 loads each path once)."""

    path: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    lib: Any = None
    pid: int = -1
    conf: str | None = None
    sessions: dict[str, Any] = field(default_factory=dict)  # by token label
    handles: dict[tuple, Any] = field(default_factory=dict)  # by (token, key label, id)

    def reset(self) -> None:
        self.sessions.clear()
        self.handles.clear()

    def current(self, conf: str | None) -> bool:
        """Whether the library is initialised in this process for ``conf`` (no call needed)."""
        return self.lib is not None and self.pid == _pid and self.conf == conf


class _KeyNotFound(HsmUnavailable):
    """The token has no such object: the answer only when the module was initialised for the
    call; a session older than a lost and returned token store sees no objects at all."""


_modules: dict[str, _Module] = {}
# This process's id, asked at every call into a module: kept here (a fork's child sets its
# own below) rather than a system call each time.
_pid = os.getpid()


def _after_fork_in_child() -> None:
    global _pid
    _pid = os.getpid()
    for module in _modules.values():
        module.lock = threading.RLock()
        module.pid = -1  # forces C_Initialize again before the first call
        module.reset()


os.register_at_fork(after_in_child=_after_fork_in_child)


def load_module(path: str, conf: str | None) -> _Module:
    """The library at ``path`` loaded in this process with SoftHSM2 configuration ``conf``
    (None for any other module), re-initialised when another configuration is loaded now or
    after a fork. Every cached session dies with a re-initialisation. Call with the lock held."""
    m = _modules.get(path)
    if m is None:
        m = _modules.setdefault(path, _Module(path))
    elif m.current(conf):  # every call into the module passes here: no new _Module each time
        return m
    if conf:
        if not Path(conf).exists():
            raise HsmUnavailable(f"SoftHSM2 configuration {conf} is missing")
        os.environ["SOFTHSM2_CONF"] = conf
    else:
        os.environ.pop("SOFTHSM2_CONF", None)
    if not Path(path).exists():
        raise HsmUnavailable(f"PKCS#11 module {path} not found")
    try:
        if m.lib is None:
            m.lib = pkcs11.lib(path)
        else:
            m.lib.reinitialize()
    except p11e.PKCS11Error as exc:
        m.lib = None
        reason = str(exc) or type(exc).__name__
        raise HsmUnavailable(f"cannot load PKCS#11 module {path}: {reason}") from None
    m.pid, m.conf = _pid, conf
    m.reset()
    return m


# Called with the role's token name each time a call into the module fails for good (an
# HsmUnavailable raised): how the composition counts HSM errors (regca/metrics.py) without the
# key code knowing any metrics library.
error_listeners: list[Callable[[str], None]] = []


def _report_error(token_name: str) -> None:
    for listener in error_listeners:
        try:
            listener(token_name)
        except Exception:  # noqa: BLE001 - counting must never change what the caller sees
            pass


class Hsm:
    """The CA's keys in a PKCS#11 module, addressed by role (``issuing``, ``ocsp``...)."""

    def __init__(self, config: HsmConfig):
        self.config = config
        self._module = _modules.setdefault(config.module, _Module(config.module))
        # asked at every call into the module (three per certificate issued)
        self._conf_text = str(config.softhsm_conf) if config.softhsm_conf else None

    def only(self, role: str) -> Hsm:
        """This HSM narrowed to one role: its key and that key's token, nothing else. A key
        object holds one of these, so whoever holds the key cannot sign as another role."""
        key = self.config.key(role)
        token = self._token_config(key.token)
        return Hsm(replace(self.config, tokens={key.token: token}, keys={role: key}))

    def with_key(self, role: str, key: KeyConfig) -> Hsm:
        """This HSM narrowed to one role whose key is ``key``: another generation of the
        role's key (``KeyConfig.generation``), on the role's token."""
        if key.token != self.config.key(role).token:
            raise ConfigurationError(f"hsm.keys.{role}: a generation on another token")
        narrowed = self.only(role)
        return Hsm(replace(narrowed.config, keys={role: key}))

    def has_key(self, role: str) -> bool:
        """Whether the role's private key is in its token now (a rollover that stopped after
        generating the key finds it here)."""
        key = self.config.key(role)

        def find(session) -> bool:
            if not list(session.get_objects({Attribute.LABEL: key.label,
                                             Attribute.CLASS: ObjectClass.PRIVATE_KEY})):
                raise _KeyNotFound(f"no key {key.label!r}")  # asked again on a fresh module
            return True

        try:
            return self._with_session(key.token, find)
        except _KeyNotFound:
            return False  # an answer, not an HSM error to count
        except HsmUnavailable:
            _report_error(key.token)
            raise

    # -- the module ---------------------------------------------------------------------------

    def _conf(self) -> str | None:
        return self._conf_text

    def _ensure_loaded(self) -> _Module:
        """Load or re-initialise the module for this process and this home's SoftHSM2 conf."""
        return load_module(self.config.module, self._conf())

    def _session(self, m: _Module, token_name: str):
        token = self._token_config(token_name)
        if token.offline and token.ceremony_pin is None:
            token.pin()  # raises TokenOffline, even when a ceremony of this process logged in
        session = m.sessions.get(token.label)
        if session is None:
            try:
                found = m.lib.get_token(token_label=token.label)
                session = found.open(rw=True, user_pin=token.pin())
            except (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange):
                raise HsmUnavailable(f"wrong PIN for token {token.label!r}") from None
            except p11e.PinLocked:
                raise HsmUnavailable(f"PIN of token {token.label!r} is locked") from None
            m.sessions[token.label] = session
        return session

    def _token_config(self, name: str) -> TokenConfig:
        try:
            return self.config.tokens[name]
        except KeyError:
            raise ConfigurationError(f"hsm.tokens.{name}: not configured") from None

    def with_session(self, token_name: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn(session)`` under the module lock, recovering from lost sessions."""
        try:
            return self._with_session(token_name, fn)
        except HsmUnavailable:
            _report_error(token_name)
            raise

    def _with_session(self, token_name: str, fn: Callable[[Any], T]) -> T:
        last: Exception | None = None
        for attempt in range(_ATTEMPTS):
            with self._module.lock:
                # State from an earlier call may be a lost store's leftover (module docstring).
                inherited = self._module.current(self._conf())
                try:
                    m = self._ensure_loaded()
                    return fn(self._session(m, token_name))
                except _RECOVERABLE as exc:
                    last = exc
                    self._module.pid = -1  # re-initialise on the next attempt
                except _KeyNotFound as exc:
                    if not inherited:
                        raise
                    last = exc
                    self._module.pid = -1
                except p11e.PKCS11Error as exc:
                    self._module.pid = -1  # start afresh next time: the store may come back
                    if not inherited:
                        raise HsmUnavailable(
                            f"PKCS#11 error: {type(exc).__name__} {exc}".strip()) from None
                    last = exc
            time.sleep(0.01 * (attempt + 1))
        if isinstance(last, p11e.NoSuchToken):
            label = self._token_config(token_name).label
            raise HsmUnavailable(f"token {label!r} not found in {self._module.path}")
        raise HsmUnavailable(f"HSM not answering: {type(last).__name__} {last}".strip())

    def ping(self) -> bool:
        """True when every configured key can be found in its token now (a real round trip
        to the module: a cached handle or label would hide a vanished token store)."""
        try:
            for key in self.config.keys.values():
                if self.config.offline(key.role):
                    continue  # the root's token is offline between ceremonies: not a fault
                self.with_session(key.token, lambda s, k=key: s.get_key(
                    object_class=_object_class(k), id=k.id, label=k.label))
            return True
        except (HsmUnavailable, ConfigurationError):
            return False

    def close_token(self, token_name: str) -> None:
        """End this process's sessions on a token (the root's, at the end of a ceremony): the
        log-in ends with its last session (PKCS#11 v2.40 §5.6, C_CloseSession)."""
        label = self._token_config(token_name).label
        with self._module.lock:
            session = self._module.sessions.pop(label, None)
            for slot in [k for k in self._module.handles if k[0] == label]:
                del self._module.handles[slot]
            if session is not None:
                try:
                    session.close()
                except p11e.PKCS11Error:
                    self._module.pid = -1  # re-initialising the module ends it for certain

    # -- keys -----------------------------------------------------------------------------------

    def _handle(self, session, key: KeyConfig):
        cache = self._module.handles
        slot = (self.config.tokens[key.token].label, key.label, key.id)
        handle = cache.get(slot)
        if handle is None:
            try:
                handle = session.get_key(object_class=_object_class(key), id=key.id,
                                         label=key.label)
            except p11e.NoSuchKey:
                raise _KeyNotFound(f"no key {key.label!r} on token "
                                   f"{self.config.tokens[key.token].label!r}") from None
            cache[slot] = handle
        return handle

    def sign_raw(self, role: str, data: bytes, mechanism, mechanism_param=None) -> bytes:
        key = self.config.key(role)
        return self.with_session(
            key.token,
            lambda s: self._handle(s, key).sign(data, mechanism=mechanism,
                                                mechanism_param=mechanism_param))

    def hmac_sha256(self, role: str, data: bytes) -> bytes:
        """HMAC-SHA-256 of ``data`` with the role's secret key, computed in the HSM
        (CKM_SHA256_HMAC): the key never leaves it, so only this HSM can make or check one."""
        key = self.config.key(role)
        if key.algorithm not in SECRET_ALGORITHMS:
            raise ConfigurationError(f"hsm.keys.{role}: not an HMAC key ({key.algorithm})")
        return bytes(self.with_session(
            key.token, lambda s: self._handle(s, key).sign(data,
                                                           mechanism=Mechanism.SHA256_HMAC)))

    def public_key(self, role: str):
        """The role's public key as a ``cryptography`` object."""
        key = self.config.key(role)

        def read(session):
            try:
                pub = session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key.id,
                                      label=key.label)
            except p11e.NoSuchKey:
                raise _KeyNotFound(f"no public key {key.label!r} in the HSM") from None
            if pub.key_type == KeyType.EC:
                return serialization.load_der_public_key(encode_ec_public_key(pub))
            return serialization.load_der_public_key(encode_rsa_public_key(pub))

        return self.with_session(key.token, read)

    def private_key(self, role: str, certificate: x509.Certificate | None):
        """A ``cryptography`` private-key object whose ``sign()`` runs in the HSM, refused with
        KeyMismatch unless ``certificate`` certifies this very key: the one place a key is
        paired with its certificate. ``None`` only while the key's first certificate is being
        made (the root's self-signature in ``regca init``)."""
        from keys.objects import pkcs11_private_key, require_certified
        public = self.public_key(role)
        if certificate is not None:
            require_certified(self.config.key(role).label, certificate, public)
        return pkcs11_private_key(self.only(role), role, public)

    def key_attributes(self, role: str) -> dict[str, bool]:
        key = self.config.key(role)

        def read(session):
            h = self._handle(session, key)
            return {"sensitive": bool(h[Attribute.SENSITIVE]),
                    "extractable": bool(h[Attribute.EXTRACTABLE])}

        return self.with_session(key.token, read)

    def generate_key(self, role: str):
        """Generate the role's key pair inside the token; refuses to replace an existing one."""
        key = self.config.key(role)
        if key.algorithm in WRAPPING_ALGORITHMS:
            return self._generate_wrapping_key(key)

        def generate(session):
            existing = list(session.get_objects({Attribute.LABEL: key.label,
                                                 Attribute.CLASS: _object_class(key)}))
            if existing:
                raise HsmUnavailable(f"token already holds a key labelled {key.label!r}")
            private = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                       Attribute.PRIVATE: True}
            if key.algorithm in SECRET_ALGORITHMS:
                session.generate_key(KeyType.GENERIC_SECRET, 256, store=True, id=key.id,
                                     label=key.label, capabilities=_SIGN_CAPS,
                                     template=private)
            elif key.algorithm in CURVES:
                params = session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(CURVES[key.algorithm])},
                    local=True)
                params.generate_keypair(store=True, id=key.id, label=key.label,
                                        capabilities=_SIGN_CAPS, private_template=private)
            else:
                bits = int(key.algorithm.split("-")[1])
                session.generate_keypair(KeyType.RSA, bits, store=True, id=key.id,
                                         label=key.label, capabilities=_SIGN_CAPS,
                                         private_template=private)

        self.with_session(key.token, generate)
        return None if key.algorithm in SECRET_ALGORITHMS else self.public_key(role)

    # -- the key-encryption key: data keys wrapped in the HSM ------------------------------------

    def _generate_wrapping_key(self, key: KeyConfig) -> None:
        """An AES-256 key-encryption key made in the token: sensitive, never extractable, able
        to wrap and unwrap only (so it cannot be used to decrypt an arbitrary ciphertext)."""
        def generate(session):
            if list(session.get_objects({Attribute.LABEL: key.label,
                                         Attribute.CLASS: ObjectClass.SECRET_KEY})):
                raise HsmUnavailable(f"token already holds a key labelled {key.label!r}")
            session.generate_key(KeyType.AES, 256, store=True, id=key.id, label=key.label,
                                 capabilities=_WRAP_CAPS, template={
                                     Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                                     Attribute.PRIVATE: True})

        self.with_session(key.token, generate)

    def _wrapping_key(self, role: str) -> KeyConfig:
        key = self.config.key(role)
        if key.algorithm not in WRAPPING_ALGORITHMS:
            raise ConfigurationError(f"hsm.keys.{role}: not a key-encryption key "
                                     f"({key.algorithm})")
        return key

    def new_wrapped_data_key(self, role: str) -> bytes:
        """A fresh random AES-256 data key, generated in the token and returned only wrapped
        by the role's key-encryption key (RFC 5649): whoever holds the result needs this HSM
        to use it."""
        key = self._wrapping_key(role)

        def wrap(session):
            data_key = session.generate_key(
                KeyType.AES, DATA_KEY_BITS, store=False, capabilities=MechanismFlag.ENCRYPT,
                template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: True})
            try:
                return bytes(self._handle(session, key).wrap_key(data_key,
                                                                 mechanism=_WRAP_MECHANISM))
            finally:
                data_key.destroy()

        return self.with_session(key.token, wrap)

    def unwrap_data_key(self, role: str, wrapped: bytes) -> bytes:
        """The data key inside ``wrapped`` (``new_wrapped_data_key``), unwrapped in the token
        and read into this process; ValueError when the role's key did not wrap it."""
        key = self._wrapping_key(role)

        def unwrap(session):
            try:
                data_key = self._handle(session, key).unwrap_key(
                    ObjectClass.SECRET_KEY, KeyType.AES, wrapped, mechanism=_WRAP_MECHANISM,
                    store=False, template={Attribute.SENSITIVE: False,
                                           Attribute.EXTRACTABLE: True})
            except (p11e.EncryptedDataInvalid, p11e.WrappedKeyInvalid,
                    p11e.WrappedKeyLenRange) as exc:
                raise ValueError(f"not a data key wrapped by {key.label!r}: "
                                 f"{type(exc).__name__}") from None
            try:
                return bytes(data_key[Attribute.VALUE])
            finally:
                data_key.destroy()

        return self.with_session(key.token, unwrap)

    # -- SoftHSM2 token set-up ------------------------------------------------------------------

    def create_softhsm_tokens(self, so_pins: dict[str, str]) -> None:
        """Initialise this home's SoftHSM2 tokens with ``softhsm2-util`` (the embedded default)."""
        if not self.config.softhsm_conf:
            raise ConfigurationError("hsm.softhsm_conf: needed to create tokens")
        env = dict(os.environ, SOFTHSM2_CONF=str(self.config.softhsm_conf))
        for name, token in self.config.tokens.items():
            cmd = ["softhsm2-util", "--init-token", "--free", "--label", token.label,
                   "--so-pin", so_pins[name], "--pin", token.pin()]
            try:
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            except FileNotFoundError:
                raise HsmUnavailable(
                    "softhsm2-util not found (install Debian's softhsm2)") from None
            if done.returncode != 0:
                raise HsmUnavailable(f"softhsm2-util could not create token {token.label!r}: "
                                     f"{done.stderr.strip() or done.stdout.strip()}")
        with self._module.lock:
            self._module.pid = -1  # the module must rescan the token directory
