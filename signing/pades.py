"""PAdES baseline signatures (ETSI EN 319 142-1) with pyHanko, sealed by the HSM key.

B-B: CMS with signing-certificate-v2; B-T: plus a signature timestamp; B-LT: plus certificates
and OCSP/CRL in the DSS; B-LTA: plus a document timestamp over it all. Every level is an
incremental update, so earlier signatures stay valid.
"""

from __future__ import annotations

import io

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

from ca.errors import DependencyUnavailable
from signing.errors import BadDocument
from signing.hsm_signer import KeySigner
from signing.options import PdfOptions
from signing.seal import Sealed, SealIdentity
from signing.stamps import RecordingTimeStamper
from signing.trust import TrustStore

__all__ = ["PadesSealer", "looks_like_pdf", "PDF_PARSE_ERRORS", "unreadable_pdf"]

_STAMP = TextStampStyle(
    stamp_text="Zapieczętowano / Sealed by: %(signer)s\nCzas / Time: %(ts)s",
    timestamp_format="%Y-%m-%d %H:%M:%S %Z")


# What a hostile PDF raises from deep inside pyHanko's parser (a 900-deep array is a
# RecursionError): the caller's mistake, never a 500.
PDF_PARSE_ERRORS = (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError,
                    RecursionError, AssertionError)


def looks_like_pdf(data: bytes) -> bool:
    # ISO 32000-1 §7.5.2: the header %PDF-n.m; readers accept it within the first 1024 bytes.
    return b"%PDF-" in data[:1024]


def unreadable_pdf(exc: BaseException) -> BadDocument:
    """The caller's error for a PDF pyHanko could not parse."""
    why = ("objects are nested too deeply" if isinstance(exc, RecursionError)
           else str(exc)[:200] or type(exc).__name__)
    return BadDocument(f"the PDF cannot be read: {why}")


class PadesSealer:
    def __init__(self, trust: TrustStore, timestamper: TimeStamper | None):
        self.trust, self.timestamper = trust, timestamper

    def seal(self, data: bytes, identity: SealIdentity, options: PdfOptions) -> Sealed:
        try:
            return self._seal(data, identity, options)
        except RecursionError as exc:  # pyHanko resolves objects lazily, so anywhere below
            raise unreadable_pdf(exc) from None

    def _seal(self, data: bytes, identity: SealIdentity, options: PdfOptions) -> Sealed:
        writer = self._writer(data)
        signer = KeySigner(identity.key, identity.asn1_certificate, identity.asn1_chain)
        name = _free_field_name(writer)
        long_term = options.level in ("B-LT", "B-LTA")
        meta = signers.PdfSignatureMetadata(
            field_name=name, reason=options.reason, location=options.location,
            contact_info=options.contact, md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            embed_validation_info=long_term, use_pades_lta=options.level == "B-LTA",
            validation_context=(self.trust.validation_context(fetching=True,
                                                              revocation_mode="hard-fail")
                                if long_term else None))
        spec = None
        if options.visible:
            if options.visible.page > _page_count(writer):
                raise BadDocument(f"visible: the document has only {_page_count(writer)} page(s)")
            spec = fields.SigFieldSpec(name, on_page=options.visible.page - 1,
                                       box=options.visible.box)
        timestamper = None
        if options.level != "B-B":
            if self.timestamper is None:
                raise DependencyUnavailable("no TSA is configured for this level")
            timestamper = RecordingTimeStamper(self.timestamper)
        pdf_signer = signers.PdfSigner(meta, signer, timestamper=timestamper,
                                       stamp_style=_STAMP, new_field_spec=spec)
        try:
            out = pdf_signer.sign_pdf(writer, in_place=False)
        except TimestampRequestError as exc:
            raise DependencyUnavailable(f"the TSA did not answer: {exc}") from None
        except (PathBuildingError, PathValidationError) as exc:
            raise DependencyUnavailable(
                f"revocation information for {options.level} unavailable: {exc}") from None
        except SigningError as exc:
            if "revocation" in str(exc).lower() or "validat" in str(exc).lower():
                raise DependencyUnavailable(
                    f"{options.level} needs OCSP/CRL answers for the seal's chain and none came: "
                    f"{exc}") from None
            raise BadDocument(f"cannot sign this PDF: {exc}") from None
        except PdfError as exc:
            raise BadDocument(f"cannot sign this PDF: {exc}") from None
        return Sealed(out.getvalue(), tuple(timestamper.serials) if timestamper else ())

    @staticmethod
    def _writer(data: bytes) -> IncrementalPdfFileWriter:
        if not looks_like_pdf(data):
            raise BadDocument("the body is not a PDF (no %PDF- header)")
        try:
            writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        except PDF_PARSE_ERRORS as exc:
            raise unreadable_pdf(exc) from None
        if writer.prev.encrypted:
            raise BadDocument("encrypted PDFs are refused: decrypt it first, then seal it")
        return writer


def _page_count(writer: IncrementalPdfFileWriter) -> int:
    return int(writer.root["/Pages"]["/Count"])


def _free_field_name(writer: IncrementalPdfFileWriter) -> str:
    taken = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev)}
    n = 1
    while f"Pieczec{n}" in taken:
        n += 1
    return f"Pieczec{n}"
