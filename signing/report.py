"""The validation report: result objects first (STYLE.md), JSON only at the edge.

Vocabulary from ETSI EN 319 102-1 §5.1.3: a main indication (TOTAL_PASSED, TOTAL_FAILED,
INDETERMINATE) and, unless passed, a sub-indication saying why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = [
    "ChainEntry",
    "Indication",
    "Modifications",
    "Qualification",
    "SignatureResult",
    "SignedObject",
    "TimestampInfo",
    "ValidationReport",
    "chain_entries",
]


class Indication(str, Enum):
    TOTAL_PASSED = "TOTAL_PASSED"
    INDETERMINATE = "INDETERMINATE"
    TOTAL_FAILED = "TOTAL_FAILED"

    @property
    def severity(self) -> int:
        return {"TOTAL_PASSED": 0, "INDETERMINATE": 1, "TOTAL_FAILED": 2}[self.value]


_XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"

# Sub-indication -> (Polish, English) explanation for the clerk.
_WHY = {
    "HASH_FAILURE": ("dokument zmieniono po podpisaniu", "the document was changed after signing"),
    "SIG_CRYPTO_FAILURE": ("wartość podpisu jest nieprawidłowa", "the signature value is invalid"),
    "FORMAT_FAILURE": ("podpis ma nieprawidłowy format", "the signature is malformed"),
    "NO_CERTIFICATE_CHAIN_FOUND": ("certyfikat nie prowadzi do zaufanego urzędu",
                                   "the certificate does not chain to a trusted authority"),
    "REVOKED": ("certyfikat unieważniono przed złożeniem podpisu",
                "the certificate was revoked before the signature was made"),
    "REVOKED_NO_POE": ("certyfikat unieważniono, a nie ma dowodu, że podpis złożono wcześniej",
                       "the certificate was revoked and nothing proves the signature came first"),
    "REVOKED_CA_NO_POE": ("certyfikat urzędu unieważniono, a nie ma dowodu czasu podpisu",
                          "a CA certificate was revoked and nothing proves the signing time"),
    "OUT_OF_BOUNDS_NO_POE": ("certyfikat był nieważny w chwili sprawdzenia",
                             "the certificate was outside its validity period"),
    "OUT_OF_BOUNDS_NOT_REVOKED": ("certyfikat wygasł", "the certificate has expired"),
    "TRY_LATER": ("brak aktualnej informacji o unieważnieniu",
                  "no current revocation information is available"),
    "CHAIN_CONSTRAINTS_FAILURE": ("łańcuch certyfikatów narusza ograniczenia",
                                  "the certificate chain violates its constraints"),
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": ("łańcuch certyfikatów jest nieprawidłowy",
                                          "the certificate chain is invalid"),
    "SIGNED_DATA_NOT_FOUND": ("brak podpisanej treści", "the signed content is missing"),
    "MODIFIED_AFTER_SIGNING": ("dokument zmieniono po podpisaniu w sposób, na który podpis "
                               "nie pozwala",
                               "the document was changed after it was signed, in a way the "
                               "signature does not allow"),
    "NO_SIGNING_CERTIFICATE_FOUND": ("brak certyfikatu podpisującego",
                                     "the signing certificate is missing"),
}


def _name(cert: x509.Certificate) -> str:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else cert.subject.rfc4514_string()


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ChainEntry:
    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime

    def to_json(self) -> dict:
        return {"subject": self.subject, "issuer": self.issuer, "serial": self.serial,
                "not_before": _iso(self.not_before), "not_after": _iso(self.not_after)}


def chain_entries(certs) -> tuple[ChainEntry, ...]:
    return tuple(ChainEntry(c.subject.rfc4514_string(), c.issuer.rfc4514_string(),
                            format(c.serial_number, "x"), c.not_valid_before_utc,
                            c.not_valid_after_utc) for c in certs)


@dataclass(frozen=True)
class TimestampInfo:
    kind: str  # "signature" (EN 319 122-1 signature-time-stamp) or "document" (PAdES DTS)
    time: dt.datetime | None
    tsa: str | None
    valid: bool

    def to_json(self) -> dict:
        return {"type": self.kind, "time": _iso(self.time), "tsa": self.tsa, "valid": self.valid}


@dataclass(frozen=True)
class Modifications:
    """What changed in a PDF after a signature's revision (pyHanko's difference analysis).

    ``state`` is "none" (the signature covers the whole file), "allowed" (only what the
    signature's certification level or the usual approval set permits: DSS updates, document
    time-stamps, form filling where permitted; ``changes`` lists them) or "not_allowed".
    """

    state: str
    changes: tuple[str, ...] = ()

    def __post_init__(self):
        if self.state not in ("none", "allowed", "not_allowed"):
            raise ValueError(f"modifications: unknown state {self.state!r}")

    def to_json(self) -> str | dict:
        if self.state == "allowed":
            return {"state": "allowed", "changes": list(self.changes)}
        return self.state


@dataclass(frozen=True)
class SignedObject:
    """One thing a signature covers, as resolved from its reference (XAdES ds:Reference).

    ``kind``: "whole_document", "element" (by Id), "detached" (a file sent beside it) or
    "signed_properties"; ``reference`` is the URI as written; ``digest_ok`` whether it matched.
    """

    kind: str
    reference: str
    digest_ok: bool
    element: str | None = None  # the qualified tag an "element" reference resolved to

    def to_json(self) -> dict:
        out = {"kind": self.kind, "reference": self.reference, "digest_ok": self.digest_ok}
        if self.element is not None:
            out["element"] = self.element
        return out


@dataclass(frozen=True)
class Qualification:
    """EU qualification of a signature at its best signature time (ETSI TS 119 615 terms).

    ``level``: "QES" (qualified electronic signature), "QESeal", "AdES-QC" (advanced, with a
    qualified certificate), "AdES" (advanced), or "unknown" when no trusted list was loaded.
    """

    level: str
    qualified_certificate: bool = False
    qscd: bool = False
    certificate_type: str | None = None  # "esign", "eseal", "web"
    trust_service: str | None = None  # the trusted list's service name

    _WORDS = {"QES": ("kwalifikowany podpis elektroniczny", "qualified electronic signature"),
              "QESeal": ("kwalifikowana pieczęć elektroniczna", "qualified electronic seal"),
              "AdES-QC": ("zaawansowany podpis z certyfikatem kwalifikowanym",
                          "advanced signature with a qualified certificate"),
              "AdES": ("zaawansowany podpis elektroniczny", "advanced electronic signature"),
              "unknown": ("kwalifikacja nieznana (brak list zaufania)",
                          "qualification unknown (no trusted lists loaded)")}

    def __post_init__(self):
        if self.level not in self._WORDS:
            raise ValueError(f"qualification: unknown level {self.level!r}")

    def to_json(self) -> dict:
        pl, en = self._WORDS[self.level]
        return {"level": self.level, "qualified_certificate": self.qualified_certificate,
                "qscd": self.qscd, "certificate_type": self.certificate_type,
                "trust_service": self.trust_service, "description": {"pl": pl, "en": en}}


@dataclass(frozen=True)
class SignatureResult:
    format: str  # PAdES, XAdES, CAdES
    indication: Indication
    sub_indication: str | None = None
    signer: x509.Certificate | None = None
    signing_time: dt.datetime | None = None  # claimed by the signer
    best_signature_time: dt.datetime | None = None  # proven (timestamp) or validation time
    timestamps: tuple[TimestampInfo, ...] = ()
    chain: tuple[ChainEntry, ...] = ()
    detail: str | None = None
    kind: str = "signature"  # or "document_timestamp" (PAdES DTS, ETSI EN 319 142-1 §5.4)
    covers: str = "whole_document"  # "whole_document", "revision" or "partial"
    modifications: Modifications | None = None  # PDFs only
    revision: int | None = None  # PDFs: the revision (0-based) the signature signed
    signed_objects: tuple[SignedObject, ...] = ()
    qualification: Qualification | None = None
    extra: dict = field(default_factory=dict)  # format-specific facts, e.g. Profil Zaufany
    # What the ETSI TS 119 102-2 report is built from (signing/etsi_report.py); never JSON.
    evidence: object = field(default=None, compare=False, repr=False)

    def summary(self) -> dict[str, str]:
        words = self._verdict()
        if self.covers == "partial":
            # Never let a clerk read a signature over one element as a signed document.
            # Parts of the signature itself (ds:KeyInfo) are not part of the document.
            parts = ", ".join(o.element.rpartition("}")[2] for o in self.signed_objects
                              if o.kind == "element" and o.element
                              and not o.element.startswith(f"{{{_XMLDSIG}}}"))
            parts = f" ({parts})" if parts else ""
            words = {"pl": words["pl"] + f" Podpis obejmuje tylko część dokumentu{parts}; "
                                         "reszta nie jest podpisana.",
                     "en": words["en"] + f" The signature covers only part of the document"
                                         f"{parts}; the rest is not signed."}
        return words

    def _verdict(self) -> dict[str, str]:
        who = _name(self.signer) if self.signer is not None else "?"
        stamp = self.kind == "document_timestamp"
        what_pl, what_en = ("Znacznik czasu dokumentu", "Document time-stamp") if stamp else (
            "Podpis", "Signature")
        if self.indication is Indication.TOTAL_PASSED:
            by_pl, by_en = ("wystawił go", "issued by") if stamp else ("złożył go", "by")
            return {"pl": f"{what_pl} prawidłowy: {by_pl} {who}.",
                    "en": f"Valid {what_en.lower()} {by_en} {who}."}
        why = self.sub_indication or ""
        if self.modifications is not None and self.modifications.state == "not_allowed":
            why = "MODIFIED_AFTER_SIGNING"
        pl, en = _WHY.get(why, ("nie można potwierdzić podpisu",
                                "the signature cannot be confirmed"))
        if self.indication is Indication.TOTAL_FAILED:
            return {"pl": f"{what_pl} nieprawidłowy ({who}): {pl}.",
                    "en": f"Invalid {what_en.lower()} ({who}): {en}."}
        return {"pl": f"Nie można rozstrzygnąć ważności ({what_pl.lower()}, {who}): {pl}.",
                "en": f"{what_en} validity undetermined ({who}): {en}."}

    def to_json(self) -> dict:
        out = {
            "format": self.format,
            "indication": self.indication.value,
            "sub_indication": self.sub_indication,
            "signed_by": self.signer.subject.rfc4514_string() if self.signer else None,
            "signing_time": _iso(self.signing_time),
            "best_signature_time": _iso(self.best_signature_time),
            "timestamps": [t.to_json() for t in self.timestamps],
            "certificate_chain": [c.to_json() for c in self.chain],
            "summary": self.summary(),
            "kind": self.kind,
            "covers": self.covers,
        }
        if self.modifications is not None:
            out["modifications"] = self.modifications.to_json()
        if self.revision is not None:
            out["revision"] = self.revision
        if self.signed_objects:
            out["signed_objects"] = [o.to_json() for o in self.signed_objects]
        if self.qualification is not None:
            out["qualification"] = self.qualification.to_json()
        out.update(self.extra)
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class ValidationReport:
    signatures: tuple[SignatureResult, ...]

    @property
    def indication(self) -> Indication:
        if not self.signatures:
            return Indication.INDETERMINATE  # nothing to validate is not a pass
        return max((s.indication for s in self.signatures), key=lambda i: i.severity)

    def to_json(self) -> dict:
        out = {"indication": self.indication.value,
               "signatures": [s.to_json() for s in self.signatures]}
        if not self.signatures:
            out["summary"] = {"pl": "Dokument nie zawiera podpisu.",
                              "en": "The document contains no signature."}
        return out
