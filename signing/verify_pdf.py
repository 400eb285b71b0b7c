"""PAdES validation: every signature and document time-stamp of a PDF, in revision order.

Each signature goes through pyHanko's EN 319 102-1 validation for long-term signatures
(``ades_lta_validation``): the document time-stamps that follow it and its own signature
time-stamp are proofs of existence, so a certificate revoked after the best signature time does
not fail it (§5.6.2.4, past signature validation). What changed after each signature comes from
pyHanko's difference analysis (DocMDP and the modification level), and a change the signature
does not allow fails it, whatever the cryptography says (STYLE.md, "Verdicts").
"""

from __future__ import annotations

import asyncio
import io

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate, AdESStatus
from pyhanko.sign.validation import validate_pdf_timestamp
from pyhanko.sign.validation.ades import (
    ades_basic_validation,
    ades_lta_validation,
    ades_with_time_validation,
)
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    bootstrap_validation_data_handlers,
)
from pyhanko.sign.validation.status import ModificationInfo
from pyhanko_certvalidator.ltv.poe import POEManager

from signing.errors import BadDocument
from signing.etsi_report import PdfEvidence
from signing.pades import PDF_PARSE_ERRORS, looks_like_pdf, unreadable_pdf
from signing.pdf_changes import coverage_of, modifications_of
from signing.report import Indication, SignatureResult, ValidationReport
from signing.trust import TrustStore
from signing.verdict import ades_verdict, path_of, signer_of, timestamp_of, verdict

__all__ = ["PadesVerifier", "read_pdf"]

# Indications that only a proof of existence before some event can lift (EN 319 102-1 §5.6.2.4).
_NEEDS_POE = frozenset({AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE,
                        AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
                        AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED})

_PARSE_ERRORS = PDF_PARSE_ERRORS


def read_pdf(data: bytes) -> PdfFileReader:
    if not looks_like_pdf(data):
        raise BadDocument("the body is not a PDF (no %PDF- header)")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise BadDocument("encrypted PDFs cannot be verified here")
        _ = reader.root["/Pages"]  # resolve the catalogue now, so a broken one fails here
        return reader
    except _PARSE_ERRORS as exc:
        raise unreadable_pdf(exc) from None


class PadesVerifier:
    def __init__(self, trust: TrustStore, fetching: bool):
        self.trust, self.fetching = trust, fetching

    def verify(self, data: bytes) -> ValidationReport:
        reader = read_pdf(data)
        try:
            embedded = sorted(reader.embedded_signatures, key=lambda s: s.signed_revision)
            # One fenced fetcher per request: every fetch of this document shares its budget.
            backend = self.trust.fetcher_backend() if self.fetching else None
            spec = self.trust.pdf_validation_spec(fetching=self.fetching, reader=reader,
                                                  backend=backend)
            stamps = {id(s): self._document_timestamp(s, spec) for s in embedded
                      if s.sig_object_type == "/DocTimeStamp"}
            return ValidationReport(tuple(
                stamps.get(id(s)) or self._signature(s, spec, _later(s, embedded, stamps))
                for s in embedded))
        except _PARSE_ERRORS as exc:
            raise unreadable_pdf(exc) from None

    def _signature(self, sig: EmbeddedPdfSignature, spec: PdfSignatureValidationSpec,
                   later: list[SignatureResult]) -> SignatureResult:
        # pyHanko's difference analysis of every later revision (DocMDP, modification level);
        # read from the signature itself, as pyHanko's basic validation drops it from its status.
        sig.compute_integrity_info(diff_policy=spec.diff_policy)
        integrity = ModificationInfo(**sig.summarise_integrity_info())
        try:
            result, best = asyncio.run(self._validate(sig, spec, later))
        except SignatureValidationError as exc:
            return SignatureResult("PAdES", Indication.TOTAL_FAILED, "FORMAT_FAILURE",
                                   detail=str(exc), revision=sig.signed_revision)
        status = result.api_status
        changes = modifications_of(integrity)
        indication, sub = ades_verdict(result, changes, proven_before=best)
        stamp = timestamp_of(status.timestamp_validity, "signature") if status else None
        return SignatureResult(
            "PAdES", indication, sub, signer=signer_of(status),
            signing_time=status.signer_reported_dt if status else None,
            best_signature_time=best,
            timestamps=(stamp,) if stamp else (), chain=path_of(status),
            detail=None if indication is Indication.TOTAL_PASSED else result.failure_msg,
            covers=coverage_of(integrity), modifications=changes, revision=sig.signed_revision,
            qualification=self.trust.qualification(getattr(status, "validation_path", None),
                                                   best),
            evidence=PdfEvidence(sig, result))

    async def _validate(self, sig: EmbeddedPdfSignature, spec: PdfSignatureValidationSpec,
                        later: list[SignatureResult]):
        """EN 319 102-1: §5.5 (with time) when the signature has its own time-stamp, else §5.3
        (basic); then, if only a proof of existence is missing, the document time-stamps that
        follow it supply one (§5.6.3, pyHanko's LTA process)."""
        base = spec.signature_validation_spec
        timing = self.trust.timing()
        # Proofs of existence default to "now": our clock's, not the wall clock.
        handlers = bootstrap_validation_data_handlers(
            base, timing, poe_manager_override=POEManager(timing.validation_time))
        if _has_signature_timestamp(sig):
            result = await ades_with_time_validation(
                sig.signed_data, base, timing, raw_digest=sig.compute_digest(),
                validation_data_handlers=handlers)
            best = result.best_signature_time
        else:
            result = await ades_basic_validation(sig.signed_data, base, timing,
                                                 raw_digest=sig.compute_digest(),
                                                 validation_data_handlers=handlers)
            best = timing.validation_time
        proofs = [s.best_signature_time for s in later if s.indication is Indication.TOTAL_PASSED]
        if result.ades_subindic in _NEEDS_POE and proofs:
            if _has_signature_timestamp(sig):
                archived = await ades_lta_validation(sig, spec, timing)
                if archived.ades_subindic.status is not AdESStatus.INDETERMINATE:
                    return archived, archived.best_signature_time
            best = min(best, *proofs)
        return result, best

    def _document_timestamp(self, sig: EmbeddedPdfSignature, spec: PdfSignatureValidationSpec
                            ) -> SignatureResult:
        """A PAdES document time-stamp (ETSI EN 319 142-1 §5.4): its token is the signature."""
        try:
            status = validate_pdf_timestamp(sig, self.trust.timestamp_context(spec, sig.reader),
                                            diff_policy=spec.diff_policy)
        except SignatureValidationError as exc:
            return SignatureResult("PAdES", Indication.TOTAL_FAILED, "FORMAT_FAILURE",
                                   detail=str(exc), kind="document_timestamp",
                                   revision=sig.signed_revision)
        changes = modifications_of(status)
        indication, sub = verdict(status, modifications=changes)
        stamp = timestamp_of(status, "document")
        return SignatureResult(
            "PAdES", indication, sub, signer=signer_of(status), signing_time=status.timestamp,
            best_signature_time=status.timestamp, timestamps=(stamp,), chain=path_of(status),
            kind="document_timestamp", covers=coverage_of(status), modifications=changes,
            revision=sig.signed_revision)


def _later(sig: EmbeddedPdfSignature, embedded, stamps: dict) -> list[SignatureResult]:
    """The document time-stamps over revisions after this signature's: proofs it existed."""
    return [stamps[id(s)] for s in embedded
            if id(s) in stamps and s.signed_revision > sig.signed_revision]


def _has_signature_timestamp(sig: EmbeddedPdfSignature) -> bool:
    return next(extract_tst_data_iter(sig.signer_info, signed=False), None) is not None
