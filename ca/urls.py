"""Where relying parties find CRLs, OCSP and CA certificates (built from --public-url)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PublicUrls", "CA_NAMES"]

# The CAs of a fresh home; an issuing-CA ceremony adds ``issuing-g<n>`` (ca/issuing_cas.py).
CA_NAMES = ("root", "issuing")


@dataclass(frozen=True)
class PublicUrls:
    base: str
    cps_url: str | None = None  # regca.toml ``cps_url``; else the copy served at /cps

    @property
    def cps(self) -> str:
        """The CPS URI of the certificate policies qualifier (RFC 5280 §4.2.1.4)."""
        return self.cps_url or f"{self.base}/cps"

    def crl(self, ca: str) -> str:
        return f"{self.base}/crl/{ca}.crl"

    def delta_crl(self, ca: str) -> str:
        return f"{self.base}/crl/{ca}-delta.crl"

    def ca_certificate(self, ca: str) -> str:
        return f"{self.base}/ca/{ca}.crt"

    @property
    def ocsp(self) -> str:
        return f"{self.base}/ocsp"

    @property
    def tsa(self) -> str:
        return f"{self.base}/tsa"
