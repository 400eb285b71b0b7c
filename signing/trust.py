"""Trust anchors for validation: RegCA's root plus any configured in ``[signing] trust_anchors``,
and the fenced fetching (signing/fetching.py) that validation uses for OCSP, CRLs and AIA."""

from __future__ import annotations

from cryptography import x509
from pyhanko_certvalidator import ValidationContext

from ca.context import CaContext
from signing.fetch_policy import FetchPolicy
from signing.fetching import FencedFetcherBackend
from signing.seal import to_asn1

__all__ = ["TrustStore"]


class TrustStore:
    def __init__(self, ctx: CaContext, extra: tuple[x509.Certificate, ...] = (),
                 fetching: FetchPolicy | None = None):
        self.ctx, self.extra = ctx, extra
        # RegCA's own OCSP/CRL/CA URLs are always fetchable (B-LT sealing needs them).
        self.fetching = (fetching or FetchPolicy()).allowing(ctx.settings.public_url)

    @property
    def anchors(self) -> list[x509.Certificate]:
        return [self.ctx.certificate_of("root-ca"), *self.extra]

    def fetcher_backend(self) -> FencedFetcherBackend:
        """A fresh fenced backend: make one per verify request and give it to every context
        and pyHanko spec of that request, so they share one time budget. Never leave a pyHanko
        spec's ``fetcher_backend`` at None when fetching: pyHanko then makes an unfenced one."""
        return FencedFetcherBackend(self.fetching)

    def validation_context(self, *, fetching: bool, revocation_mode: str = "soft-fail",
                           moment=None, backend: FencedFetcherBackend | None = None
                           ) -> ValidationContext:
        """A fresh context per document: pyHanko's contexts cache fetched revocation data.

        Validation happens at the injected clock's time unless ``moment`` says otherwise, so a
        pinned clock in tests and the OCSP/TSA times it produces agree (STYLE.md, "clock").
        ``backend``: the request's fenced backend, to share its budget; default a fresh one.
        """
        return ValidationContext(
            trust_roots=[to_asn1(c) for c in self.anchors],
            other_certs=[to_asn1(self.ctx.certificate_of("issuing-ca"))],
            allow_fetching=fetching, revocation_mode=revocation_mode,
            moment=moment or self.ctx.now(),
            fetcher_backend=(backend or self.fetcher_backend()) if fetching else None)
