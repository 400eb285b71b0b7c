"""Trust anchors for validation: RegCA's root plus any configured in ``[signing] trust_anchors``."""

from __future__ import annotations

from cryptography import x509
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

from ca.context import CaContext
from signing.seal import to_asn1

__all__ = ["TrustStore"]


class TrustStore:
    def __init__(self, ctx: CaContext, extra: tuple[x509.Certificate, ...] = ()):
        self.ctx, self.extra = ctx, extra

    @property
    def anchors(self) -> list[x509.Certificate]:
        return [self.ctx.certificate_of("root-ca"), *self.extra]

    def validation_context(self, *, fetching: bool, revocation_mode: str = "soft-fail",
                           moment=None) -> ValidationContext:
        """A fresh context per document: pyHanko's contexts cache fetched revocation data.

        Validation happens at the injected clock's time unless ``moment`` says otherwise, so a
        pinned clock in tests and the OCSP/TSA times it produces agree (STYLE.md, "clock").
        """
        return ValidationContext(
            trust_roots=[to_asn1(c) for c in self.anchors],
            other_certs=[to_asn1(self.ctx.certificate_of("issuing-ca"))],
            allow_fetching=fetching, revocation_mode=revocation_mode,
            moment=moment or self.ctx.now(),
            # Synchronous fetchers: aiohttp sessions would outlive the request's event loop.
            fetcher_backend=RequestsFetcherBackend() if fetching else None)
