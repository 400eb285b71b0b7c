"""Token personalisation: keys on the token, CSRs signed by it, certificates written back.

The CA may be this home's (``LocalCa``) or a remote RA API (``regca.remote_ca``, the officer's
workstation with ``regca token enroll --ca-url``). Everything that can refuse the request is
checked before the token is touched, and a key generated for a request that then fails is
deleted again, so a refused enrolment leaves the token as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ca.errors import InvalidSubject, RegCAError
from ca.identity import parse_subscriber
from ra.token import TokenError, TokenKey, TokenRef, open_token

__all__ = ["CaClient", "LocalCa", "PersonalisationRequest", "Personalised",
           "personalise"]

DEFAULT_ALGORITHM = "ec-p256"  # every subscriber profile allows it; smart cards support it


@dataclass(frozen=True)
class Issued:
    serial: str
    certificate: x509.Certificate
    chain: list[x509.Certificate]


class CaClient(Protocol):
    def check(self, profile: str, subject: dict) -> None: ...
    def issue(self, profile: str, csr: bytes, subject: dict) -> Issued: ...
    def withdraw(self, serial: str) -> bool: ...


class LocalCa:
    """This home's CA, in-process: the ``IssuingCa`` the composition built
    (ca/services.py)."""

    def __init__(self, ca, actor: str, scope_teryt: str | None = None):
        self.ca, self.actor, self.scope_teryt = ca, actor, scope_teryt

    def check(self, profile: str, subject: dict) -> None:
        """The CA's checks on a throwaway software CSR: every check but the token's key."""
        from ca.issuance import IssuanceRequest
        self.ca.prepare(IssuanceRequest(profile, _probe_csr(), subject, self.actor,
                                        self.scope_teryt))

    def issue(self, profile: str, csr: bytes, subject: dict) -> Issued:
        from ca.issuance import IssuanceRequest
        done = self.ca.issue(IssuanceRequest(profile, csr, subject, self.actor,
                                             self.scope_teryt))
        return Issued(done.serial, done.certificate, done.chain)

    def withdraw(self, serial: str) -> bool:
        """Revoke a certificate that never reached the token (RFC 5280 cessationOfOperation)."""
        from ca.revocation import RevocationRequest
        try:
            self.ca.revoke(RevocationRequest(serial, "cessationOfOperation", self.actor))
        except RegCAError:
            return False
        return True


def _probe_csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class PersonalisationRequest:
    token: TokenRef
    pin: str
    profiles: tuple[str, ...]
    subject: dict
    algorithm: str = DEFAULT_ALGORITHM
    renewal: bool = False  # keys beside older ones of the same profile (labelled profile-2...)


@dataclass(frozen=True)
class Personalised:
    profile: str
    key_id: bytes
    label: str
    issued: Issued
    token_serial: str = ""


def personalise(request: PersonalisationRequest, ca: CaClient) -> list[Personalised]:
    """One key pair and one certificate per profile on one token, in one go."""
    if not request.profiles or len(set(request.profiles)) != len(request.profiles):
        raise InvalidSubject("profile", "give each profile once")
    # Step 1: everything that can refuse, before the token is touched.
    for profile in request.profiles:
        ca.check(profile, request.subject)
    common_name = parse_subscriber(request.subject).common_name or "RegCA subscriber"

    # Step 2: keys generated on the token, CSRs signed by it.
    keys: list[tuple[str, TokenKey, bytes]] = []
    with open_token(request.token, request.pin) as token:
        token_serial = token.serial
        try:
            for profile in request.profiles:
                label = token.free_label(profile) if request.renewal else profile
                key = token.generate_key(label, request.algorithm)
                keys.append((profile, key, token.csr(key, common_name)))
        except BaseException:
            for _, key, _ in keys:
                token.delete_key(key.id)
            raise

    # Step 3: the CA issues (the token's library is released meanwhile: it may be the CA's too).
    issued: list[Issued] = []
    try:
        for profile, _key, csr in keys:
            issued.append(ca.issue(profile, csr, request.subject))
    except BaseException:
        _forget(request, [k for _, k, _ in keys])
        raise

    # Step 4: certificates and chain onto the token.
    with open_token(request.token, request.pin) as token:
        try:
            for (_, key, _), done in zip(keys, issued, strict=True):
                token.write_certificates(key, done.certificate, done.chain)
        except Exception as exc:  # noqa: BLE001 - any failure here is undone the same way
            for _, key, _ in keys:
                token.delete_key(key.id)
            failure = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        else:
            failure = None
    if failure:
        # Step 4b: certificates whose key is gone must not stay valid.
        left = [d.serial for d in issued if not ca.withdraw(d.serial)]
        serials = ", ".join(d.serial for d in issued)
        raise TokenError(f"writing the certificates to the token failed ({failure}); "
                         + (f"revoke {', '.join(left)} and retry" if left else
                            f"certificates {serials} were revoked (cessationOfOperation) and "
                            "the new keys deleted; retry"))
    return [Personalised(p, k.id, k.label, d, token_serial)
            for (p, k, _), d in zip(keys, issued, strict=True)]


def _forget(request: PersonalisationRequest, keys: list[TokenKey]) -> None:
    with open_token(request.token, request.pin) as token:
        for key in keys:
            token.delete_key(key.id)
