"""Which identity seals a request: the certificate, its HSM key and the chain to the root.

A key bound to a JST seals with that JST's own seal (``regca seal create --org``: the ``seal``
service with the JST's TERYT as scope, ca/jst_seals.py), so a gmina's decision is sealed in
the gmina's name. A JST without one is refused (Conflict, 409) unless regca.toml lets the
region's seal stand in (``[signing] region_seal_stands_in = true``); then the identity says so
(``fallback``), and so do the response header, the audit event and the usage report. A key
bound to no JST (the region's own systems) seals with the region's seal.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.errors import Conflict
from ca.services import RoleKey, ScopedKeys
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
    requested_teryt: str | None  # the JST it seals for (None: the region's own systems)
    fallback: bool  # the region's seal standing in for that JST's
    # The same certificates as asn1crypto objects, parsed once: pyHanko and the CMS builder use
    # these, and re-parsing them costs more than the HSM signature.
    asn1_certificate: asn1_x509.Certificate
    asn1_chain: tuple[asn1_x509.Certificate, ...]


class SealRegistry:
    """Finds the seal identity for a caller. Holds the seal keys only: the region's (role
    ``seal``), the JSTs' (the same role per TERYT, ``ScopedKeys``) and the chain to the root.
    Identities are built once per certificate, so a rollover or a new JST seal is followed as
    the keys follow it (within ``ca.rolekeys.RECHECK`` seconds)."""

    def __init__(self, region: RoleKey, chain: tuple[x509.Certificate, ...],
                 jst: ScopedKeys | None = None, region_stands_in: bool = False):
        self.region, self.chain, self.jst = region, tuple(chain), jst
        self.region_stands_in = region_stands_in
        self._identities: dict[str, SealIdentity] = {}  # by scope ("" the region's)
        self._lock = threading.Lock()

    def _identity(self, scope: str, key: RoleKey) -> SealIdentity:
        cert, private = key.pair()  # the active generation: a rollover changes it
        with self._lock:
            known = self._identities.get(scope)
        if known is not None and known.certificate is cert:
            return known
        made = SealIdentity(cert, private, self.chain, scope or None, False, to_asn1(cert),
                            tuple(to_asn1(c) for c in self.chain))
        with self._lock:
            self._identities[scope] = made
        return made

    def for_principal(self, principal: Principal | None) -> SealIdentity:
        teryt = principal.organization_teryt if principal else None
        if not teryt:
            return self._identity("", self.region)
        own = self.jst.of(teryt) if self.jst is not None else None
        if own is not None:
            return self._identity(teryt, own)
        if not self.region_stands_in:
            raise Conflict(
                f"JST {teryt} has no seal of its own: the operator creates it with `regca seal "
                f"create --org {teryt}` / JST {teryt} nie ma jeszcze własnej pieczęci")
        return replace(self._identity("", self.region), requested_teryt=teryt, fallback=True)
