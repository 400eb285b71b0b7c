"""Which public keys may be certified: a key revoked for keyCompromise never again, whatever the
profile or JST; a key for one subject only, and again for it only where the profile allows a
renewal with the same key (Boulder's blocked keys, ``sa/model.go`` keyHashToID, do the same
with the SubjectPublicKeyInfo's SHA-256)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ca.errors import BlockedKey, KeyInUse
from ca.personal_data import masked_subject
from ca.profiles import Profile
from ca.store.certificates import KeyUse

__all__ = ["spki_sha256", "willing_to_certify_key"]


def spki_sha256(public_key) -> bytes:
    """The SHA-256 of the key's DER SubjectPublicKeyInfo: the same key, the same hash, whatever
    CSR or certificate carries it."""
    return hashlib.sha256(public_key.public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).digest()


def _same_subject(use: KeyUse, subject: str, person_ref: str | None) -> bool:
    """Whether ``use`` certified ``subject``. A subject with a PESEL is stored masked
    (ca/store/certificates.py): it is the same when the masked forms and the PESEL's keyed
    references agree; without a reference (a home without the HMAC key) it never is, since
    two people's masked PESELs may coincide."""
    if use.subject == subject:
        return True  # a subject without a PESEL, or a row an older home keeps in clear
    return (use.person_ref is not None and use.person_ref == person_ref
            and use.subject == masked_subject(subject))


def willing_to_certify_key(uses: Sequence[KeyUse], subject: str, profile: Profile,
                           person_ref: str | None = None) -> None:
    """Refuse a key whose earlier certificates (``uses``) forbid this one for ``subject``
    (``person_ref``: the keyed reference of the PESEL it carries)."""
    for use in uses:
        if use.revocation_reason == "keyCompromise":
            raise BlockedKey(f"this public key was revoked for keyCompromise (certificate "
                             f"{use.serial}) and is never certified again; make a new key")
    for use in uses:
        if not _same_subject(use, subject, person_ref):
            raise KeyInUse(f"this public key is already certified for another subject "
                           f"(certificate {use.serial}); make a new key")
    if uses and not profile.key_renewal:
        raise KeyInUse(f"this public key is already certified (certificate {uses[0].serial}) "
                       f"and profile {profile.name} allows no renewal with the same key; "
                       "make a new key")
