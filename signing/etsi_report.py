"""The ETSI TS 119 102-2 XML validation report (``Accept: application/xml`` on /api/v1/verify).

PDF signatures are reported by pyHanko's own report tools from the EN 319 102-1 results the
verifier kept (``SignatureResult.evidence``), with the indication set to our final verdict (a
verdict that also reads the modifications after signing and the document time-stamps). XAdES
and CAdES results are written from our result objects into pyHanko's bindings of the same
schema. Serialisation is xsdata's, in the namespace http://uri.etsi.org/19102/v1.2.1#.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.generated.etsi import ts_11910202
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESPassed, AdESSubIndic
from pyhanko.sign.validation.ades import derive_validation_object_identifier
from pyhanko.sign.validation.report import tools as pyhanko_report
from pyhanko_certvalidator.ltv.poe import ValidationObject, ValidationObjectType
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig
from xsdata.models.datatype import XmlDateTime

from signing.report import Indication, SignatureResult, ValidationReport

__all__ = ["PdfEvidence", "etsi_report"]

_MAIN = {Indication.TOTAL_PASSED: "urn:etsi:019102:mainindication:total-passed",
         Indication.TOTAL_FAILED: "urn:etsi:019102:mainindication:total-failed",
         Indication.INDETERMINATE: "urn:etsi:019102:mainindication:indeterminate"}


@dataclasses.dataclass(frozen=True)
class PdfEvidence:
    """What pyHanko's report tools need for one PDF signature: the signature and its result."""

    embedded: object  # pyhanko EmbeddedPdfSignature
    result: object  # pyhanko AdESBasicValidationResult (or a subclass)


def etsi_report(report: ValidationReport, validation_time: dt.datetime) -> bytes:
    entries, objects = [], {}
    for sig in report.signatures:
        if isinstance(sig.evidence, PdfEvidence):
            entries.append(_pdf_entry(sig, sig.evidence))
            for vo in sig.evidence.result.validation_objects:
                packaged = pyhanko_report._package_validation_object(vo)
                objects.setdefault(packaged.id, packaged)
        else:
            entry, signer_vo = _entry(sig, validation_time)
            entries.append(entry)
            if signer_vo is not None:
                objects.setdefault(signer_vo.id, signer_vo)
    document = ts_11910202.ValidationReport(
        signature_validation_report=tuple(entries),
        signature_validation_objects=ts_11910202.ValidationObjectListType(
            tuple(objects.values())) if objects else None)
    xml = XmlSerializer(config=SerializerConfig(indent="  ")).render(
        document, ns_map=pyhanko_report.NAMESPACES)
    return xml.encode()


def _pdf_entry(sig: SignatureResult, evidence: PdfEvidence):
    # pyHanko's per-signature report (private in 0.38: the public wrapper takes one signature).
    result = dataclasses.replace(evidence.result, ades_subindic=_subindic(sig))
    entry = pyhanko_report._generate_report(evidence.embedded, result)
    times = entry.validation_time_info
    if times is not None and times.best_signature_time is None:
        # The schema requires it; pyHanko leaves it out after the basic process (EN 319 102-1
        # §5.3), where the best signature time is the validation time (§5.6.2.1).
        entry = dataclasses.replace(entry, validation_time_info=dataclasses.replace(
            times, best_signature_time=_poe(sig.best_signature_time)))
    return entry


def _subindic(sig: SignatureResult) -> AdESSubIndic:
    if sig.indication is Indication.TOTAL_PASSED:
        return AdESPassed.OK
    family = AdESFailure if sig.indication is Indication.TOTAL_FAILED else AdESIndeterminate
    return family.__members__.get(sig.sub_indication or "", _GENERIC[sig.indication])


_GENERIC = {Indication.TOTAL_FAILED: AdESFailure.FORMAT_FAILURE,
            Indication.INDETERMINATE: AdESIndeterminate.GENERIC}


def _entry(sig: SignatureResult, validation_time: dt.datetime):
    """A report entry for a signature pyHanko's tools do not cover (XAdES, CAdES)."""
    signer_vo, signer_info = None, None
    if sig.signer is not None:
        vo = ValidationObject(ValidationObjectType.CERTIFICATE,
                              asn1_x509.Certificate.load(sig.signer.public_bytes(Encoding.DER)))
        signer_vo = pyhanko_report._package_validation_object(vo)
        signer_info = ts_11910202.SignerInformationType(
            signer_certificate=ts_11910202.VOReferenceType(
                voreference=(derive_validation_object_identifier(vo),)),
            signer=sig.signer.subject.rfc4514_string())
    process = "LTVM" if any(t.valid for t in sig.timestamps) else "Basic"
    subs = ()
    if sig.indication is not Indication.TOTAL_PASSED:
        subs = (f"urn:etsi:019102:subindication:{_subindic(sig).standard_name}",)
    entry = ts_11910202.SignatureValidationReportType(
        signature_identifier=ts_11910202.SignatureIdentifierType(hash_only=False,
                                                                 doc_hash_only=False),
        validation_time_info=ts_11910202.ValidationTimeInfoType(
            validation_time=XmlDateTime.from_datetime(validation_time),
            best_signature_time=_poe(sig.best_signature_time or validation_time)),
        signer_information=signer_info,
        signature_validation_process=ts_11910202.SignatureValidationProcessType(
            signature_validation_process_id=f"urn:etsi:019102:validationprocess:{process}"),
        signature_validation_status=ts_11910202.ValidationStatusType(
            main_indication=_MAIN[sig.indication], sub_indication=subs))
    return entry, signer_vo


def _poe(moment: dt.datetime) -> ts_11910202.POEType:
    # Derived by the validation itself (a time-stamp it checked, or the validation time).
    return ts_11910202.POEType(poetime=XmlDateTime.from_datetime(moment),
                               type_of_proof="urn:etsi:019102:poetype:validation")
