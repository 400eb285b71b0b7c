"""PAdES validation with pyHanko: each signature in the PDF gets its own result.

Signatures in a PDF with a DSS (B-LT, B-LTA) are validated from the DSS alone, so they validate
with the network cut; others are validated now, fetching revocation data when the configuration
allows (soft-fail: no answer is not a failure).
"""

from __future__ import annotations

import io

from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.settings import KeyUsageConstraints

from signing.errors import BadDocument
from signing.pades import looks_like_pdf
from signing.report import Indication, SignatureResult, ValidationReport
from signing.trust import TrustStore
from signing.verdict import path_of, signer_of, timestamp_of, verdict

__all__ = ["PadesVerifier"]

# Seals carry documentSigning / nonRepudiation; pyHanko's default asks for no particular EKU.
_KEY_USAGE = KeyUsageConstraints(key_usage={"non_repudiation"}, match_all_key_usages=False)


class PadesVerifier:
    def __init__(self, trust: TrustStore, fetching: bool):
        self.trust, self.fetching = trust, fetching

    def verify(self, data: bytes) -> ValidationReport:
        if not looks_like_pdf(data):
            raise BadDocument("the body is not a PDF (no %PDF- header)")
        try:
            reader = PdfFileReader(io.BytesIO(data), strict=False)
            if reader.encrypted:
                raise BadDocument("encrypted PDFs cannot be verified here")
            sigs = list(reader.embedded_regular_signatures)
            doc_ts = list(reader.embedded_timestamp_signatures)
        except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise BadDocument(f"the PDF cannot be read: {exc}") from None
        dss = DocumentSecurityStore.read_dss(reader) if "/DSS" in reader.root else None
        return ValidationReport(tuple(self._one(s, dss, doc_ts) for s in sigs))

    def _context(self, dss):
        if dss is None:
            return self.trust.validation_context(fetching=self.fetching)
        # Long-term signatures validate from what the DSS holds alone (no fetching).
        return dss.as_validation_context({"trust_roots": self._roots(), "allow_fetching": False,
                                          "revocation_mode": "hard-fail"})

    def _one(self, embedded, dss, doc_ts) -> SignatureResult:
        try:
            vc = self._context(dss)
            status = validate_pdf_signature(embedded, vc, vc, key_usage_settings=_KEY_USAGE)
        except SignatureValidationError as exc:
            return SignatureResult("PAdES", Indication.TOTAL_FAILED, "FORMAT_FAILURE",
                                   detail=str(exc))
        stamps = [timestamp_of(status.timestamp_validity, "signature")]
        indication, sub = verdict(status, stamps[0])
        for dts in doc_ts:
            stamps.append(timestamp_of(_doc_ts_status(dts, self.trust), "document"))
        stamps = tuple(s for s in stamps if s is not None)
        best = stamps[0].time if stamps and stamps[0].kind == "signature" else None
        return SignatureResult(
            "PAdES", indication, sub, signer=signer_of(status),
            signing_time=status.signer_reported_dt, best_signature_time=best or _now(self.trust),
            timestamps=stamps, chain=path_of(status),
            detail=None if indication is Indication.TOTAL_PASSED else _coverage(status))

    def _roots(self):
        from signing.seal import to_asn1
        return [to_asn1(c) for c in self.trust.anchors]


def _doc_ts_status(embedded, trust: TrustStore):
    from pyhanko.sign.validation import validate_pdf_timestamp
    try:
        return validate_pdf_timestamp(embedded, trust.validation_context(fetching=False))
    except SignatureValidationError:
        return None


def _coverage(status) -> str | None:
    coverage = getattr(status, "coverage", None)
    return f"coverage: {coverage.name}" if coverage is not None else None


def _now(trust: TrustStore):
    return trust.ctx.now()
