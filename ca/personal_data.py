"""No PESEL in clear where the audit log keeps things forever (RODO data minimisation).

An event names a person by a keyed hash of the PESEL: HMAC-SHA-256 with the HSM's secret key
(role ``hmac``), so only this HSM can turn a PESEL the RA gives an auditor into the reference
to search for, and nobody holding the log alone can test guesses (PESELs are few enough to
enumerate an unkeyed hash). Where no HMAC is at hand, the PESEL is masked as on every page.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

from ca.errors import ConfigurationError
from ca.identity import mask_pesel

__all__ = ["PersonRefs", "masked_subject", "PESEL_IN_SUBJECT", "HMAC_ROLE"]

HMAC_ROLE = "hmac"  # the HSM key role (hsm-config/pkcs11.toml)

# the ETSI EN 319 412-1 semantics identifier a person's subject carries
PESEL_IN_SUBJECT = re.compile(r"PNOPL-(\d{11})")
# a PESEL in a JSON text: as a semantics identifier, or the value of a "pesel" key
_PESEL_IN_TEXT = re.compile(r'(PNOPL-|"pesel":\s*")(\d{11})')
_DOMAIN = b"regca-pesel\x00"


def masked_subject(subject: str) -> str:
    """``subject`` with each PESEL masked (``PNOPL-02*******28``): no key needed."""
    return PESEL_IN_SUBJECT.sub(lambda m: f"PNOPL-{mask_pesel(m.group(1))}", subject)


class PersonRefs:
    """``hmac``: HMAC-SHA-256 with the HSM's secret key (keys.hsm.Hsm.hmac_sha256); None in a
    home made before that key existed: subjects are then masked, not searchable."""

    def __init__(self, hmac: Callable[[bytes], bytes] | None):
        self._hmac = hmac

    @classmethod
    def of(cls, hsm, keys) -> PersonRefs:
        """From the home's HSM, when ``keys`` (its configured roles) has the HMAC key."""
        if HMAC_ROLE not in keys:
            return cls(None)
        only = hsm.only(HMAC_ROLE)
        return cls(lambda data: only.hmac_sha256(HMAC_ROLE, data))

    @property
    def keyed(self) -> bool:
        """Whether PESELs become searchable references here (the home has the HMAC key)."""
        return self._hmac is not None

    def ref(self, pesel: str) -> str:
        """``hmac:`` and 26 base32 letters (130 bits): in base32's alphabet (a-z, 2-7) no run
        of digits looks like a PESEL."""
        if self._hmac is None:
            raise ConfigurationError("hsm.keys.hmac: this home has no HMAC key for PESELs")
        mac = self._hmac(_DOMAIN + pesel.encode())
        return "hmac:" + base64.b32encode(mac).decode()[:26].lower()

    def text(self, value: str) -> str:
        """Any text shown to an auditor (an event's details, a subject): each PESEL found as
        ``PNOPL-...`` or a ``"pesel"`` value replaced by its reference, or masked without the
        key. Rows written before PESELs were kept out of the log show the same way."""
        def swap(m: re.Match) -> str:
            pesel = m.group(2)
            return m.group(1) + (self.ref(pesel) if self._hmac else mask_pesel(pesel))
        return _PESEL_IN_TEXT.sub(swap, value)

    def subject(self, subject: str) -> str:
        """``subject`` with each PESEL replaced by its reference (``PNOPL-hmac:...``)."""
        if "PNOPL-" not in subject:
            return subject
        if self._hmac is None:
            return masked_subject(subject)
        return PESEL_IN_SUBJECT.sub(lambda m: f"PNOPL-{self.ref(m.group(1))}", subject)
