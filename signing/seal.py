"""Which identity seals a request: the certificate, its HSM key and the chain to the root.

A key bound to one JST should seal with that JST's own seal identity; per-JST seal keys are not
provisioned yet (the HSM layout in hsm-config/pkcs11.toml has one ``seal`` role), so every key
seals with the region's seal for now and the result says so (``fallback``).
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.apikeys import Principal
from ca.context import CaContext

__all__ = ["SealIdentity", "SealRegistry", "to_asn1"]


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    """cryptography and pyHanko/asn1crypto meet at DER."""
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


@dataclass(frozen=True)
class SealIdentity:
    """A seal certificate with its HSM key; ``chain`` is issuing CA then root."""

    certificate: x509.Certificate
    key: object
    chain: tuple[x509.Certificate, ...]
    requested_teryt: str | None
    fallback: bool

    @property
    def asn1_certificate(self) -> asn1_x509.Certificate:
        return to_asn1(self.certificate)

    @property
    def asn1_chain(self) -> list[asn1_x509.Certificate]:
        return [to_asn1(c) for c in self.chain]


class SealRegistry:
    """Finds the seal identity for a caller; the HSM key object is made once per process."""

    def __init__(self, ctx: CaContext):
        self.ctx = ctx
        self._region: tuple[x509.Certificate, object, tuple] | None = None

    def _region_seal(self) -> tuple[x509.Certificate, object, tuple]:
        if self._region is None:
            self._region = (self.ctx.certificate_of("seal"), self.ctx.hsm.private_key("seal"),
                            tuple(self.ctx.chain()))
        return self._region

    def for_principal(self, principal: Principal | None) -> SealIdentity:
        teryt = principal.organization_teryt if principal else None
        cert, key, chain = self._region_seal()
        # No per-JST seal role exists in the HSM yet: a JST-bound key falls back to the region.
        return SealIdentity(cert, key, chain, teryt, fallback=teryt is not None)
