"""Where relying parties find CRLs, OCSP and CA certificates (built from --public-url)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PublicUrls", "CA_NAMES"]

CA_NAMES = ("root", "issuing")


@dataclass(frozen=True)
class PublicUrls:
    base: str

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
