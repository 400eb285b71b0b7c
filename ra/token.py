"""A subscriber's token (smart card, USB token, SoftHSM2) reached through its PKCS#11 module.

The key pair is generated ON the token (CKA_SENSITIVE, never extractable), the token signs the
CSR, and the issued certificate and its chain go back onto the token under the key's CKA_ID and
label, so middleware (OpenSC, browsers, signing tools) pairs them.

SoftHSM2 reads its configuration once per ``C_Initialize`` and one process can hold only one
configuration at a time; the CA's own HSM and a subscriber's token may be that same library with
different configurations. Both go through ``keys.hsm``'s per-library registry and lock, so whoever
needs the library next re-initialises it with its own configuration (DESIGN.md, "Keys").
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from asn1crypto.core import Integer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, CertificateType, KeyType, MechanismFlag, ObjectClass, TokenFlag
from pkcs11 import exceptions as p11e
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key

from ca.errors import Conflict, HsmUnavailable
from keys.hsm import CURVES, _Module, _modules, load_module
from keys.objects import pkcs11_private_key

__all__ = ["TokenError", "TokenRef", "TokenKey", "UserToken", "open_token", "signing_hash",
           "unblock_pin", "initialise_token"]

_SIGN_CAPS = MechanismFlag.SIGN | MechanismFlag.VERIFY
# What a token answers when it cannot store another object: CKR_DEVICE_MEMORY on smart cards;
# SoftHSM2 answers CKR_FUNCTION_FAILED when its object file cannot be written (disk full).
_NO_ROOM = (p11e.DeviceMemory, p11e.HostMemory, p11e.FunctionFailed)


class TokenError(Conflict):
    """The subscriber's token cannot be used: absent, wrong PIN, locked, full, already used."""

    code = "token"


@dataclass(frozen=True)
class TokenRef:
    """Where a token is: its PKCS#11 library, its label, and for SoftHSM2 the configuration
    (``None``: whatever the caller's environment says)."""

    module: str
    label: str
    softhsm_conf: str | None = None


@dataclass(frozen=True)
class TokenKey:
    """A key pair on the token: its CKA_ID and CKA_LABEL and the public key."""

    id: bytes
    label: str
    public_key: object


def _load(ref: TokenRef) -> _Module:
    """The token's library, loaded in this process (the CA's HSM is re-initialised away if it
    uses the same library with another configuration). Call with the module lock held."""
    try:
        return load_module(ref.module, ref.softhsm_conf)
    except HsmUnavailable as exc:
        raise TokenError(exc.message) from None


def _public_key_of(pub) -> object:
    if pub.key_type == KeyType.EC:
        return serialization.load_der_public_key(encode_ec_public_key(pub))
    return serialization.load_der_public_key(encode_rsa_public_key(pub))


def signing_hash(public_key) -> hashes.HashAlgorithm:
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


class UserToken:
    """An open, logged-in session on a subscriber's token; use through ``open_token``.

    ``sign_raw`` lets ``keys.objects``' key classes sign with a token key, so a CSR is built by
    cryptography's own CertificateSigningRequestBuilder."""

    def __init__(self, session, ref: TokenRef):
        self._session = session
        self.ref = ref

    @property
    def serial(self) -> str:
        """CK_TOKEN_INFO serialNumber: what the registry records to recognise the token."""
        serial = self._session.token.serial
        return (serial.decode() if isinstance(serial, bytes) else str(serial)).strip()

    # -- what keys.objects needs ------------------------------------------------------------

    def sign_raw(self, role: str, data: bytes, mechanism, mechanism_param=None) -> bytes:
        key = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=bytes.fromhex(role))
        return key.sign(data, mechanism=mechanism, mechanism_param=mechanism_param)

    def private_key(self, key: TokenKey):
        return pkcs11_private_key(self, key.id.hex(), key.public_key)

    # -- keys -------------------------------------------------------------------------------------

    def labels(self) -> set[str]:
        return {o[Attribute.LABEL] for o in self._session.get_objects(
            {Attribute.CLASS: ObjectClass.PRIVATE_KEY})}

    def free_label(self, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``... when a renewal keeps the older key beside it."""
        taken, n = self.labels(), 2
        label = base
        while label in taken:
            label, n = f"{base}-{n}", n + 1
        return label

    def generate_key(self, label: str, algorithm: str) -> TokenKey:
        """A new key pair generated inside the token; the private half is sensitive and can
        never be extracted (CKA_SENSITIVE true, CKA_EXTRACTABLE false)."""
        if label in self.labels():
            raise TokenError(f"token {self.ref.label!r} already holds a key labelled {label!r}")
        key_id = secrets.token_bytes(8)
        private = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                   Attribute.PRIVATE: True, Attribute.TOKEN: True}
        try:
            if algorithm in CURVES:
                params = self._session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(CURVES[algorithm])},
                    local=True)
                pub, _ = params.generate_keypair(store=True, id=key_id, label=label,
                                                 capabilities=_SIGN_CAPS,
                                                 private_template=private)
            else:
                pub, _ = self._session.generate_keypair(
                    KeyType.RSA, int(algorithm.split("-")[1]), store=True, id=key_id,
                    label=label, capabilities=_SIGN_CAPS, private_template=private)
        except _NO_ROOM:
            raise TokenError(f"token {self.ref.label!r} is full: no room for a new key") from None
        return TokenKey(key_id, label, _public_key_of(pub))

    def key_attributes(self, key: TokenKey) -> dict[str, bool]:
        priv = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key.id)
        return {"sensitive": bool(priv[Attribute.SENSITIVE]),
                "extractable": bool(priv[Attribute.EXTRACTABLE]),
                "always_sensitive": bool(priv[Attribute.ALWAYS_SENSITIVE]),
                "never_extractable": bool(priv[Attribute.NEVER_EXTRACTABLE])}

    def delete_key(self, key_id: bytes) -> None:
        """Remove everything stored under ``key_id`` (undoing a failed personalisation)."""
        for obj in list(self._session.get_objects({Attribute.ID: key_id})):
            obj.destroy()

    def csr(self, key: TokenKey, common_name: str) -> bytes:
        """A PKCS#10 request signed by the token key (the CA takes only the key from it)."""
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .sign(self.private_key(key), signing_hash(key.public_key)))
        return csr.public_bytes(serialization.Encoding.PEM)

    # -- certificates -----------------------------------------------------------------------------

    def _put_certificate(self, cert: x509.Certificate, key_id: bytes, label: str) -> None:
        template = {
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: False,
            Attribute.LABEL: label,
            Attribute.ID: key_id,
            Attribute.SUBJECT: cert.subject.public_bytes(),
            Attribute.ISSUER: cert.issuer.public_bytes(),
            # CKA_SERIAL_NUMBER is the DER encoding of the serial INTEGER (PKCS#11 v2.40 §4.6.3)
            Attribute.SERIAL_NUMBER: Integer(cert.serial_number).dump(),
            Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
        }
        try:
            self._session.create_object(template)
        except _NO_ROOM:
            raise TokenError(f"token {self.ref.label!r} is full: no room for the "
                             "certificate") from None

    def write_certificates(self, key: TokenKey, certificate: x509.Certificate,
                           chain: list[x509.Certificate]) -> None:
        """The subscriber's certificate under the key's CKA_ID and label; each CA certificate
        once, under its own subject key identifier (no private key shares that CKA_ID)."""
        self._put_certificate(certificate, key.id, key.label)
        present = {o[Attribute.VALUE] for o in self._session.get_objects(
            {Attribute.CLASS: ObjectClass.CERTIFICATE})}
        for ca_cert in chain:
            der = ca_cert.public_bytes(serialization.Encoding.DER)
            if der in present:
                continue
            ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            cn = ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            self._put_certificate(ca_cert, ski.value.digest,
                                  cn[0].value if cn else "CA")

    def certificates(self) -> list[tuple[bytes, str, x509.Certificate]]:
        return [(o[Attribute.ID], o[Attribute.LABEL], x509.load_der_x509_certificate(
            o[Attribute.VALUE])) for o in self._session.get_objects(
            {Attribute.CLASS: ObjectClass.CERTIFICATE})]


def _find(ref: TokenRef):
    """The token by label; a token inserted since the library was loaded is only seen after a
    re-initialisation (SoftHSM2 scans its store in C_Initialize), so look twice."""
    for attempt in range(2):
        m = _load(ref)
        try:
            return m.lib.get_token(token_label=ref.label)
        except p11e.NoSuchToken:
            if attempt == 0:
                m.pid = -1
                continue
            raise TokenError(f"no token labelled {ref.label!r} is present "
                             f"(module {ref.module})") from None
        except p11e.MultipleTokensReturned:
            raise TokenError(f"more than one token is labelled {ref.label!r}") from None


def initialise_token(ref: TokenRef, user_pin: str) -> str:
    """Initialise a blank token (the first slot whose token is not initialised) with
    ``ref.label`` and ``user_pin``; returns the new SO PIN, to be shown once to the holder.

    python-pkcs11 has no C_InitToken, so OpenSC's pkcs11-tool does it, a process of its own
    loading the same module with the same SoftHSM2 configuration."""
    if not (4 <= len(user_pin) <= 16 and user_pin.isdigit()):
        raise TokenError("the user PIN must be 4 to 16 digits")
    m = _modules.setdefault(ref.module, _Module(ref.module))
    with m.lock:
        m = _load(ref)
        m.pid = -1  # rescan afterwards: the token list is about to change
        blank = None
        for slot in m.lib.get_slots(token_present=True):
            token = slot.get_token()
            if token.label == ref.label and token.flags & TokenFlag.TOKEN_INITIALIZED:
                raise TokenError(f"a token labelled {ref.label!r} is already initialised")
            if blank is None and not token.flags & TokenFlag.TOKEN_INITIALIZED:
                blank = slot.slot_id
        if blank is None:
            raise TokenError("no blank token is present to initialise")
    so_pin = "".join(secrets.choice("0123456789") for _ in range(8))
    # The PINs travel in the child's environment (OpenSC's "env:NAME"), never in its argv,
    # which other local users could read from /proc.
    env = dict(os.environ, REGCA_SO_PIN=so_pin, REGCA_USER_PIN=user_pin)
    if ref.softhsm_conf:
        env["SOFTHSM2_CONF"] = ref.softhsm_conf
    base = ["pkcs11-tool", "--module", ref.module]
    for args in (["--slot", str(blank), "--init-token", "--label", ref.label,
                  "--so-pin", "env:REGCA_SO_PIN"],
                 ["--token-label", ref.label, "--init-pin", "--so-pin", "env:REGCA_SO_PIN",
                  "--pin", "env:REGCA_USER_PIN"]):
        try:
            done = subprocess.run(base + args, env=env, capture_output=True, text=True)
        except FileNotFoundError:
            raise TokenError("pkcs11-tool not found (install Debian's opensc)") from None
        if done.returncode != 0:
            raise TokenError(f"could not initialise the token: "
                             f"{(done.stderr or done.stdout).strip().splitlines()[-1]}")
    return so_pin


def unblock_pin(ref: TokenRef, so_pin: str, new_pin: str) -> None:
    """C_InitPIN as the security officer: a new user PIN, which also clears a locked one."""
    m = _modules.setdefault(ref.module, _Module(ref.module))
    with m.lock:
        token = _find(ref)
        try:
            with token.open(rw=True, so_pin=so_pin) as session:
                session.init_pin(new_pin)
        except (p11e.PinIncorrect, p11e.PinInvalid):
            raise TokenError(f"wrong SO PIN for token {ref.label!r}") from None
        except p11e.PinLocked:
            raise TokenError(f"the SO PIN of token {ref.label!r} is locked too; the token "
                             "must be re-initialised") from None
        except p11e.PinLenRange:
            raise TokenError("the new PIN has a length the token does not accept") from None
        except p11e.PKCS11Error as exc:
            raise TokenError(f"cannot unblock token {ref.label!r}: "
                             f"{type(exc).__name__}") from None


@contextlib.contextmanager
def open_token(ref: TokenRef, pin: str) -> Iterator[UserToken]:
    """Log in to the token with the user PIN; the library stays locked for this process while
    the session is open, so the CA's HSM cannot re-initialise it underneath."""
    m = _modules.setdefault(ref.module, _Module(ref.module))
    with m.lock:
        token = _find(ref)
        try:
            session = token.open(rw=True, user_pin=pin)
        except (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange):
            raise TokenError(f"wrong PIN for token {ref.label!r}") from None
        except p11e.PinLocked:
            raise TokenError(f"the PIN of token {ref.label!r} is locked; unblock it with "
                             "the SO PIN") from None
        except p11e.UserPinNotInitialized:
            raise TokenError(f"token {ref.label!r} has no user PIN yet") from None
        except p11e.PKCS11Error as exc:
            raise TokenError(f"cannot open token {ref.label!r}: {type(exc).__name__}") from None
        try:
            yield UserToken(session, ref)
        except p11e.PKCS11Error as exc:
            raise TokenError(f"token {ref.label!r}: {type(exc).__name__} {exc}".strip()) from None
        finally:
            with contextlib.suppress(p11e.PKCS11Error):
                session.close()
