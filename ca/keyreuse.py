"""Which public keys may be certified: a key revoked for keyCompromise never again, whatever the
profile or JST; a key for one subject only, and again for it only where the profile allows a
renewal with the same key (Boulder's blocked keys, ``sa/model.go`` keyHashToID, do the same
with the SubjectPublicKeyInfo's SHA-256)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ca.errors import BlockedKey, KeyInUse
from ca.profiles import Profile
from ca.store.certificates import KeyUse

__all__ = ["spki_sha256", "willing_to_certify_key"]


def spki_sha256(public_key) -> bytes:
    """The SHA-256 of the key's DER SubjectPublicKeyInfo: the same key, the same hash, whatever
    CSR or certificate carries it."""
    return hashlib.sha256(public_key.public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).digest()


def willing_to_certify_key(uses: Sequence[KeyUse], subject: str, profile: Profile) -> None:
    """Refuse a key whose earlier certificates (``uses``) forbid this one for ``subject``."""
    for use in uses:
        if use.revocation_reason == "keyCompromise":
            raise BlockedKey(f"this public key was revoked for keyCompromise (certificate "
                             f"{use.serial}) and is never certified again; make a new key")
    for use in uses:
        if use.subject != subject:
            raise KeyInUse(f"this public key is already certified for another subject "
                           f"(certificate {use.serial}); make a new key")
    if uses and not profile.key_renewal:
        raise KeyInUse(f"this public key is already certified (certificate {uses[0].serial}) "
                       f"and profile {profile.name} allows no renewal with the same key; "
                       "make a new key")
