"""What the verifiers trust and how they check revocation: RegCA's root, any anchors configured in
``[signing] trust_anchors``, the policy every signature format is validated under, and the fenced
fetching (signing/fetching.py) that validation uses for OCSP, CRLs and AIA."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.qualified.tsp import TSPRegistry
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy
from pyhanko_certvalidator.registry import TrustManager

from ca.clock import Clock
from signing.fetch_policy import FetchPolicy
from signing.fetching import FencedFetcherBackend
from signing.qualification import qualification_of, trust_manager
from signing.report import Qualification
from signing.seal import to_asn1
from signing.trusted_list_store import load_registry

__all__ = ["TrustInputs", "TrustStore"]

# Seals carry documentSigning / nonRepudiation; pyHanko's default asks for no particular EKU.
KEY_USAGE = KeyUsageConstraints(key_usage={"non_repudiation"}, match_all_key_usages=False)
# No answer from an OCSP responder or CRL is not a failure; a "revoked" answer is.
_REVOCATION = CertRevTrustPolicy(RevocationCheckingPolicy.from_legacy("soft-fail"))


@dataclass(frozen=True)
class TrustInputs:
    """What the verifiers are built from: RegCA's root and issuing CA certificates, the home
    whose stored trusted lists they read, the public URL whose OCSP/CRL/CA answers they may
    always fetch, and the clock."""

    root: x509.Certificate
    issuing: x509.Certificate
    home: Path
    public_url: str
    clock: Clock


class TrustStore:
    def __init__(self, inputs: TrustInputs, extra: tuple[x509.Certificate, ...] = (),
                 fetching: FetchPolicy | None = None):
        self.inputs, self.extra = inputs, extra
        self._roots = [to_asn1(c) for c in self.anchors]
        self._intermediates = [to_asn1(inputs.issuing)]
        self.registry()  # read the stored trusted lists now, not on a first request
        # RegCA's own OCSP/CRL/CA URLs are always fetchable (B-LT sealing needs them).
        self.fetching = (fetching or FetchPolicy()).allowing(inputs.public_url)

    @property
    def anchors(self) -> list[x509.Certificate]:
        return [self.inputs.root, *self.extra]

    def now(self) -> dt.datetime:
        return self.inputs.clock.now()

    def registry(self) -> TSPRegistry | None:
        """The EU trusted lists' qualified services (``regca trust refresh``), if loaded."""
        return load_registry(self.inputs.home)

    def trust_manager(self) -> TrustManager:
        """RegCA's anchors first, then the CA/QC services of the loaded trusted lists."""
        return trust_manager(self._roots, self.registry())

    def timing(self) -> ValidationTimingInfo:
        """Validation at the injected clock's time (STYLE.md, "clock")."""
        now = self.now()
        return ValidationTimingInfo(validation_time=now, best_signature_time=now,
                                    point_in_time_validation=False)

    def signature_validation_spec(self, *, fetching: bool,
                                  backend: FencedFetcherBackend | None = None
                                  ) -> SignatureValidationSpec:
        """The EN 319 102-1 validation policy for every format: trust, revocation, key usage.

        ``backend``: the request's fenced backend (one per verify request, one time budget).
        """
        policy = CertValidationPolicySpec(trust_manager=self.trust_manager(),
                                          revinfo_policy=_REVOCATION)
        rule = (RevinfoOnlineFetchingRule.NO_HISTORICAL_FETCH if fetching
                else RevinfoOnlineFetchingRule.LOCAL_ONLY)
        return SignatureValidationSpec(
            cert_validation_policy=policy,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=rule,
                fetcher_backend=(backend or self.fetcher_backend()) if fetching else None),
            local_knowledge=LocalKnowledge(known_certs=list(self._intermediates)),
            key_usage_settings=KEY_USAGE)

    def pdf_validation_spec(self, *, fetching: bool, reader=None,
                            backend: FencedFetcherBackend | None = None
                            ) -> PdfSignatureValidationSpec:
        """With a PDF's DSS (B-LT, B-LTA) certificates and revocation answers known locally."""
        spec = self.signature_validation_spec(fetching=fetching, backend=backend)
        if reader is not None and "/DSS" in reader.root:
            # pyHanko's own reading of the DSS into local knowledge (ades.py, private).
            from pyhanko.sign.validation.ades import _dss_to_local_knowledge
            dss = _dss_to_local_knowledge(reader)
            known = spec.local_knowledge
            spec = replace(spec, local_knowledge=LocalKnowledge(
                known_ocsps=dss.known_ocsps, known_crls=dss.known_crls,
                known_certs=known.known_certs + dss.known_certs))
        return PdfSignatureValidationSpec(spec)

    def timestamp_context(self, spec: PdfSignatureValidationSpec, reader) -> ValidationContext:
        """For a PDF's document time-stamps: what the DSS holds, never the network."""
        from pyhanko.sign.validation.dss import DocumentSecurityStore
        settings = {"trust_manager": self.trust_manager(), "allow_fetching": False,
                    "revocation_mode": "soft-fail", "moment": self.now(),
                    "other_certs": list(self._intermediates)}
        if "/DSS" in reader.root:
            return DocumentSecurityStore.read_dss(reader).as_validation_context(settings)
        return ValidationContext(**settings)

    def qualification(self, path: ValidationPath | None, moment) -> Qualification | None:
        """The EU qualification of a validated signer at its best signature time; None when no
        path was validated (nothing to qualify)."""
        return None if path is None else qualification_of(path, moment, self.registry())
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
            trust_manager=self.trust_manager(), other_certs=list(self._intermediates),
            allow_fetching=fetching, revocation_mode=revocation_mode,
            moment=moment or self.now(),
            fetcher_backend=(backend or self.fetcher_backend()) if fetching else None)
