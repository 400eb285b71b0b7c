"""Which identity seals a request: the certificate, its HSM key and the chain to the root.

A key bound to one JST should seal with that JST's own seal identity; per-JST seal keys are not
provisioned yet (the HSM layout in hsm-config/pkcs11.toml has one ``seal`` role), so every key
seals with the region's seal for now and the result says so (``fallback``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.services import RoleKey
from ra.apikeys import Principal

__all__ = ["Sealed", "SealIdentity", "SealRegistry", "to_asn1"]


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    """cryptography and pyHanko/asn1crypto meet at DER."""
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


@dataclass(frozen=True)
class Sealed:
    """A sealer's result: the bytes to hand back and the serials of the time-stamp tokens
    taken for them (for the audit event)."""

    data: bytes
    timestamp_serials: tuple[int, ...] = ()


@dataclass(frozen=True)
class SealIdentity:
    """A seal certificate with its HSM key; ``chain`` is issuing CA then root."""

    certificate: x509.Certificate
    key: object
    chain: tuple[x509.Certificate, ...]
    requested_teryt: str | None
    fallback: bool
    # The same certificates as asn1crypto objects, parsed once: pyHanko and the CMS builder use
    # these, and re-parsing them costs more than the HSM signature.
    asn1_certificate: asn1_x509.Certificate
    asn1_chain: tuple[asn1_x509.Certificate, ...]


class SealRegistry:
    """Finds the seal identity for a caller; the HSM key object is made once per process.

    Holds the seal keys only (today the region's, role ``seal``) and the chain to the root.
    """

    def __init__(self, region: RoleKey, chain: tuple[x509.Certificate, ...]):
        self.region, self.chain = region, tuple(chain)
        self._region: SealIdentity | None = None

    def _region_seal(self) -> SealIdentity:
        cert, key = self.region.pair()  # the active generation: a rollover changes it
        if self._region is None or self._region.certificate is not cert:
            chain = self.chain
            self._region = SealIdentity(cert, key, chain, None, False,
                                        to_asn1(cert), tuple(to_asn1(c) for c in chain))
        return self._region

    def for_principal(self, principal: Principal | None) -> SealIdentity:
        teryt = principal.organization_teryt if principal else None
        # No per-JST seal role exists in the HSM yet: a JST-bound key falls back to the region.
        return replace(self._region_seal(), requested_teryt=teryt, fallback=teryt is not None)
