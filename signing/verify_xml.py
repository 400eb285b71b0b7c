"""XAdES and XML-DSig validation: every ds:Signature, every reference, at the proven time.

signxml does the XML-DSig work (references, transforms, digests, the signature value) for each
ds:Signature in turn; pyhanko-certvalidator checks the path to our trust anchors, as for PDF and
CMS. Around them this module keeps three promises:

- What was signed is what signxml verified: Id references must name exactly one element in the
  document (a duplicate Id is the classic signature-wrapping attack, so it is a FORMAT_FAILURE),
  and the element signxml hands back must be, canonically, the element reported.
- Nothing is reported as signed unless a reference covers it; a signature over an element only
  is ``covers: "partial"``. Facts read from the signature (signing time, Profil Zaufany person)
  come from the verified xades:SignedProperties, never from the document's own copy.
- Time (EN 319 102-1 §5.6.2.4): a valid xades:SignatureTimeStamp is proof that the signature
  existed; a signer revoked after that time as superseded, affiliationChanged or
  cessationOfOperation still passes. keyCompromise does not: RFC 5280 §5.3.2 says the key may
  have been compromised before its revocation, so a time-stamp earlier than the revocation does
  not prove the signature was made by the holder.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import unquote

from asn1crypto import cms
from cryptography import x509
from lxml import etree
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InvalidCertificateError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import DigestAlgorithm, digest_algorithm_implementations
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidSignature,
    SignXMLException,
)
from signxml.xades import XAdESVerifier
from signxml.xades.xades import XAdESSignatureConfiguration

from signing.pl_identity import is_personal_signature, profil_zaufany
from signing.report import (
    Indication,
    SignatureResult,
    SignedObject,
    TimestampInfo,
    ValidationReport,
)
from signing.seal import to_asn1
from signing.trust import TrustStore
from signing.verdict import BENIGN_REVOCATIONS, chain_of
from signing.xades import DS, XADES, new_parser, parse_xml

__all__ = ["XadesVerifier"]

_SIGNATURE = f"{{{DS}}}Signature"
_SIGNED_PROPERTIES = f"{{{XADES}}}SignedProperties"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_ID_NAMES = ("Id", "ID", "id")  # the attributes signxml resolves "#..." against, by local name
_QP = f"{{{DS}}}Object/{{{XADES}}}QualifyingProperties"


class _Fault(Exception):
    """A verdict reached before the cryptography: the signature's structure decides it."""

    def __init__(self, indication: Indication, sub: str, detail: str):
        super().__init__(detail)
        self.indication, self.sub, self.detail = indication, sub, detail


def _format_failure(detail: str) -> _Fault:
    return _Fault(Indication.TOTAL_FAILED, "FORMAT_FAILURE", detail)


def _not_found(detail: str) -> _Fault:
    return _Fault(Indication.INDETERMINATE, "SIGNED_DATA_NOT_FOUND", detail)


@dataclass(frozen=True)
class _Ref:
    uri: str
    kind: str  # SignedObject.kind
    target: etree._Element | None  # the element an Id (or "") names
    enveloped: bool
    transformed: bool = False  # a detached file with transforms was signed as parsed XML


class _Pinned:
    """signxml checks the first ds:Signature it finds; this one checks the n-th, in document
    order, both in the document and in the copies it makes per reference."""

    signature_index = 0

    def _get_signature(self, root):
        return list(root.iter(_SIGNATURE))[self.signature_index]

    def validate_schema(self, signature):
        # Unsigned properties are outside the signature: their time-stamps are judged here, and
        # an element we do not know there must not turn a valid signature into an error.
        checked = self._fromstring(self._tostring(signature))
        for node in checked.findall(f"{_QP}/{{{XADES}}}UnsignedProperties"):
            node.getparent().remove(node)
        super().validate_schema(checked)


class _XadesCheck(_Pinned, XAdESVerifier):
    pass


class _DsigCheck(_Pinned, XMLVerifier):
    pass


class XadesVerifier:
    def __init__(self, trust: TrustStore, fetching: bool):
        self.trust, self.fetching = trust, fetching

    def verify(self, data: bytes, detached: dict[str, bytes] | None = None) -> ValidationReport:
        """Every ds:Signature in ``data``; ``detached`` maps a reference URI to the file it names
        (the multipart part's filename)."""
        root = parse_xml(data)
        ids = _id_index(root)
        signatures = list(root.iter(_SIGNATURE))
        # One fenced fetcher per request: every fetch of this document shares its budget.
        backend = self.trust.fetcher_backend() if self.fetching else None
        return ValidationReport(tuple(
            self._one(data, root, i, sig, ids, detached or {}, backend)
            for i, sig in enumerate(signatures)))

    # -- one signature ----------------------------------------------------------------------

    def _one(self, data, root, index, signature, ids, detached, backend
             ) -> SignatureResult:
        fmt = "XAdES" if signature.find(_QP) is not None else "XMLDSig"
        try:
            refs = _references(root, signature, ids, detached)
            certs = _certificates(signature)
        except _Fault as fault:
            return SignatureResult(fmt, fault.indication, fault.sub, detail=fault.detail,
                                   covers="partial")
        if not certs:
            return SignatureResult(fmt, Indication.INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND",
                                   covers="partial")
        signer = _signer(signature, certs)
        covers = _coverage(root, signature, refs)
        stamps = _timestamps(signature, self.trust)
        now = self.trust.now()
        poe = min((t.time for t in stamps if t.valid and t.time is not None), default=None)
        base = dict(format=fmt, signer=signer, timestamps=tuple(stamps), covers=covers,
                    best_signature_time=poe or now)
        try:
            results = _crypto(fmt, data, index, signer, refs, detached, poe or now)
            objects = _signed_objects(refs, results, signature)
        except _Fault as fault:
            return SignatureResult(indication=fault.indication, sub_indication=fault.sub,
                                   detail=fault.detail, **base)
        except InvalidDigest as exc:
            if "certificate digest" in str(exc):  # xades:SigningCertificate names another cert
                return SignatureResult(indication=Indication.INDETERMINATE,
                                       sub_indication="NO_SIGNING_CERTIFICATE_FOUND",
                                       detail=str(exc), **base)
            return SignatureResult(indication=Indication.TOTAL_FAILED,
                                   sub_indication="HASH_FAILURE", detail=str(exc),
                                   signed_objects=_failed_objects(refs, str(exc)), **base)
        except InvalidCertificate as exc:
            return SignatureResult(indication=Indication.TOTAL_FAILED,
                                   sub_indication="FORMAT_FAILURE", detail=str(exc), **base)
        except InvalidSignature as exc:
            return SignatureResult(indication=Indication.TOTAL_FAILED,
                                   sub_indication="SIG_CRYPTO_FAILURE", detail=str(exc), **base)
        except (SignXMLException, etree.LxmlError, ValueError, TypeError, KeyError) as exc:
            # Hostile or broken structure inside the signature (missing elements, bad base64,
            # unknown algorithms): a verdict on this signature, not a server error.
            return SignatureResult(indication=Indication.TOTAL_FAILED,
                                   sub_indication="FORMAT_FAILURE",
                                   detail=f"{type(exc).__name__}: {exc}", **base)
        signed_properties = next((r.signed_xml for r in results if r.signed_xml is not None
                                  and r.signed_xml.tag == _SIGNED_PROPERTIES), None)
        extra = {}
        person = profil_zaufany(signed_properties)
        if person:
            extra["profil_zaufany"] = person
        indication, sub, detail, path = self._path(signer, certs, poe, now, backend)
        chain = chain_of(path, signer)
        # A name anyone can put in a CA of their own: said only of a path to a trusted anchor.
        if indication is Indication.TOTAL_PASSED and is_personal_signature([signer]):
            extra["personal_signature"] = True
        return SignatureResult(indication=indication, sub_indication=sub,
                               signing_time=_signing_time(signed_properties), chain=chain,
                               detail=detail, signed_objects=objects, extra=extra,
                               qualification=self.trust.qualification(path, poe or now), **base)

    # -- certificate path at the proven time ---------------------------------------------------

    def _validate(self, signer, others, moment, fetching, backend=None):
        vc = self.trust.validation_context(fetching=fetching, moment=moment, backend=backend)
        validator = CertificateValidator(to_asn1(signer), [to_asn1(c) for c in others],
                                         validation_context=vc)
        return asyncio.run(validator.async_validate_usage({"non_repudiation"}))

    def _path(self, signer, certs, poe, now, backend):
        """(indication, sub-indication, detail, validated path or None)."""
        others = [c for c in certs if c is not signer]
        try:
            return (Indication.TOTAL_PASSED, None, None,
                    self._validate(signer, others, now, self.fetching, backend))
        except RevokedError as exc:
            sub = "REVOKED_NO_POE" if exc.is_ee_cert else "REVOKED_CA_NO_POE"
            reason = exc.reason.native
            if poe is None or poe >= exc.revocation_dt:
                return Indication.INDETERMINATE, sub, exc.failure_msg, None
            if reason not in BENIGN_REVOCATIONS:
                return (Indication.INDETERMINATE, sub,
                        f"{exc.failure_msg} A time-stamp before a revocation for {reason} does "
                        "not prove the signature was made before the key was lost.", None)
            return self._past(signer, others, poe)
        except ExpiredError as exc:
            if poe is not None and poe < exc.expired_dt:
                return self._past(signer, others, poe)
            return Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE", exc.failure_msg, None
        except PathBuildingError as exc:
            return Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND", str(exc), None
        except (PathValidationError, InvalidCertificateError) as exc:
            return Indication.INDETERMINATE, "CERTIFICATE_CHAIN_GENERAL_FAILURE", str(exc), None

    def _past(self, signer, others, poe):
        """EN 319 102-1 §5.6.2.1: the path at the proven time; revocation was settled with
        current information above, so nothing is fetched again."""
        try:
            return Indication.TOTAL_PASSED, None, None, self._validate(signer, others, poe, False)
        except (PathBuildingError, PathValidationError, InvalidCertificateError) as exc:
            return Indication.INDETERMINATE, "CERTIFICATE_CHAIN_GENERAL_FAILURE", str(exc), None


# -- references ---------------------------------------------------------------------------------

def _id_index(root) -> dict[str, list[etree._Element]]:
    index: dict[str, list[etree._Element]] = {}
    for element in root.iter(etree.Element):
        for name, value in element.attrib.items():
            if etree.QName(name).localname in _ID_NAMES:
                index.setdefault(value, []).append(element)
    return index


def _within(node, ancestor) -> bool:
    return node is ancestor or any(a is ancestor for a in node.iterancestors())


def _references(root, signature, ids, detached) -> list[_Ref]:
    info = signature.find(f"{{{DS}}}SignedInfo")
    if info is None:
        raise _format_failure("the signature has no ds:SignedInfo")
    refs = []
    for ref in info.findall(f"{{{DS}}}Reference"):
        uri = ref.get("URI")
        transforms = [t.get("Algorithm") for t in ref.findall(f"{{{DS}}}Transforms/"
                                                               f"{{{DS}}}Transform")]
        enveloped = _ENVELOPED in transforms
        if uri is None:
            raise _format_failure("a ds:Reference without a URI is not supported")
        if uri == "":
            refs.append(_Ref(uri, "whole_document", root, enveloped))
        elif uri.startswith("#xpointer("):
            raise _format_failure(f"XPointer references are not supported: {uri}")
        elif uri.startswith("#"):
            found = ids.get(uri[1:], [])
            if len(found) > 1:
                raise _format_failure(f"Id {uri[1:]!r} names {len(found)} elements: the "
                                      "reference is ambiguous (signature wrapping)")
            if not found:
                raise _not_found(f"no element has the Id {uri[1:]!r} the signature references")
            target = found[0]
            if target.tag == _SIGNED_PROPERTIES:
                if not _within(target, signature):
                    raise _format_failure("the signature references the xades:SignedProperties "
                                          "of another signature")
                refs.append(_Ref(uri, "signed_properties", target, enveloped))
            else:
                refs.append(_Ref(uri, "element", target, enveloped))
        else:
            if _detached(detached, uri) is None:
                raise _not_found(f"the signature covers the file {uri!r}: send it as the "
                                 f"multipart part 'content' with the filename {uri!r}")
            refs.append(_Ref(uri, "detached", None, enveloped, bool(transforms)))
    if not refs:
        raise _format_failure("the signature has no ds:Reference")
    return refs


def _detached(detached: dict[str, bytes], uri: str) -> bytes | None:
    return detached.get(uri, detached.get(unquote(uri)))


def _coverage(root, signature, refs) -> str:
    """whole_document when a reference takes the whole XML body, or when the body is only the
    signature and every data reference is a file sent beside it."""
    data = [r for r in refs if r.kind in ("whole_document", "detached")
            or (r.kind == "element" and not _within(r.target, signature))]
    if any(r.kind == "whole_document" or r.target is root for r in data):
        return "whole_document"
    if data and signature is root and all(r.kind == "detached" for r in data):
        return "whole_document"
    return "partial"


def _crypto(fmt, data, index, signer, refs, detached, when):
    verifier = _XadesCheck() if fmt == "XAdES" else _DsigCheck()
    verifier.signature_index = index
    config_type = XAdESSignatureConfiguration if fmt == "XAdES" else SignatureConfiguration
    # signxml's own validity-period check is not the verdict: pyhanko-certvalidator judges the
    # certificate at the proven time. Keep signxml's clock inside the certificate's validity.
    when = min(max(when, signer.not_valid_before_utc), signer.not_valid_after_utc)
    as_xml = {r.uri for r in refs if r.kind == "detached" and r.transformed}

    def resolve(uri):
        content = _detached(detached, uri)
        if content is None:
            return None
        # A reference with transforms (c14n) signed the parsed file; without, its bytes.
        return parse_xml(content) if uri in as_xml else content

    results = verifier.verify(
        data, x509_cert=signer, parser=new_parser(), uri_resolver=resolve,
        expect_config=config_type(expect_references=True, verification_time=when))
    results = results if isinstance(results, list) else [results]
    if len(results) != len(refs):
        raise _format_failure("signxml verified a different number of references")
    return results


def _canonical(node) -> bytes:
    return etree.tostring(node, method="c14n", exclusive=True, with_comments=False)


def _without(target, signature):
    """``target`` as the enveloped-signature transform sees it: minus ``signature``, whose
    trailing text stays (XML-DSig §6.6.4)."""
    position = list(target.iter(_SIGNATURE)).index(signature)
    clone = copy.deepcopy(target)
    victim = list(clone.iter(_SIGNATURE))[position]
    parent, tail = victim.getparent(), victim.tail or ""
    previous = victim.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(victim)
    return clone


def _signed_objects(refs, results, signature) -> tuple[SignedObject, ...]:
    """The report's list of what was signed, after checking that each element signxml verified
    is the element reported (signature wrapping defence)."""
    out = []
    for ref, result in zip(refs, results, strict=True):
        element = None
        if ref.kind in ("element", "signed_properties"):
            expected = (_without(ref.target, signature)
                        if ref.enveloped and _within(signature, ref.target) else ref.target)
            if result.signed_xml is None or _canonical(result.signed_xml) != _canonical(expected):
                raise _format_failure(f"the element verified for {ref.uri} is not the element "
                                      "with that Id in the document")
            element = ref.target.tag
        out.append(SignedObject(ref.kind, ref.uri, True, element))
    return tuple(out)


def _failed_objects(refs, message: str) -> tuple[SignedObject, ...]:
    """After a digest mismatch: the references before it matched; the rest are unconfirmed."""
    match = re.search(r"reference (\d+)", message)
    failed = int(match.group(1)) if match else 0
    return tuple(SignedObject(r.kind, r.uri, i < failed,
                              r.target.tag if r.kind == "element" else None)
                 for i, r in enumerate(refs))


# -- certificates, time ---------------------------------------------------------------------------

def _certificates(signature) -> list[x509.Certificate]:
    certs = []
    for node in signature.findall(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate"):
        try:
            der = base64.b64decode("".join((node.text or "").split()), validate=True)
            certs.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError):
            raise _format_failure("a ds:X509Certificate is not a base64 DER certificate") \
                from None
    return certs


def _signer(signature, certs) -> x509.Certificate:
    """The certificate xades:SigningCertificate(V2) names (signxml then checks that digest under
    the signature); the first in ds:KeyInfo otherwise."""
    props = f"{_QP}/{_SIGNED_PROPERTIES}/{{{XADES}}}SignedSignatureProperties"
    for kind in ("SigningCertificateV2", "SigningCertificate"):
        digest = signature.find(f"{props}/{{{XADES}}}{kind}/{{{XADES}}}Cert/"
                                f"{{{XADES}}}CertDigest")
        if digest is None:
            continue
        method = digest.find(f"{{{DS}}}DigestMethod")
        value = digest.find(f"{{{DS}}}DigestValue")
        try:
            algorithm = digest_algorithm_implementations[DigestAlgorithm(method.get("Algorithm"))]
            wanted = base64.b64decode(value.text or "")
        except (AttributeError, KeyError, ValueError, binascii.Error):
            break
        for cert in certs:
            if cert.fingerprint(algorithm()) == wanted:
                return cert
    return certs[0]


def _signing_time(signed_properties) -> dt.datetime | None:
    if signed_properties is None:
        return None
    node = signed_properties.find(f"{{{XADES}}}SignedSignatureProperties/{{{XADES}}}SigningTime")
    try:
        return dt.datetime.fromisoformat((node.text or "").strip()) if node is not None else None
    except ValueError:
        return None


def _c14n(node, algorithm: str) -> bytes:
    if algorithm not in (_C14N_10, f"{_C14N_10}#WithComments",
                         "http://www.w3.org/2006/12/xml-c14n11",
                         "http://www.w3.org/2006/12/xml-c14n11#WithComments",
                         "http://www.w3.org/2001/10/xml-exc-c14n#",
                         "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"):
        raise ValueError(f"unknown canonicalisation {algorithm}")
    return etree.tostring(node, method="c14n", exclusive="xml-exc-c14n" in algorithm,
                          with_comments=algorithm.endswith("#WithComments"))


def _timestamps(signature, trust: TrustStore) -> list[TimestampInfo]:
    """Each xades:SignatureTimeStamp of this signature, validated by pyHanko: the token's
    signature, the TSA's chain to our anchors, and its imprint over the canonicalised
    ds:SignatureValue (EN 319 132-1 §5.3). Garbage in a token makes it invalid, nothing more."""
    value = signature.find(f"{{{DS}}}SignatureValue")
    props = signature.find(f"{_QP}/{{{XADES}}}UnsignedProperties/"
                           f"{{{XADES}}}UnsignedSignatureProperties")
    if value is None or props is None:
        return []
    out = []
    for stamp in props.findall(f"{{{XADES}}}SignatureTimeStamp"):
        method = stamp.find(f"{{{DS}}}CanonicalizationMethod")
        algorithm = method.get("Algorithm", _C14N_10) if method is not None else _C14N_10
        for node in stamp.findall(f"{{{XADES}}}EncapsulatedTimeStamp"):
            out.append(_timestamp(node, value, algorithm, trust))
    return out


def _timestamp(node, value, algorithm, trust) -> TimestampInfo:
    try:
        covered = _c14n(value, algorithm)
        token = cms.ContentInfo.load(base64.b64decode("".join((node.text or "").split()),
                                                      validate=True))
        kwargs = asyncio.run(validate_tst_signed_data(
            token["content"], trust.validation_context(fetching=False),
            lambda algo: hashlib.new(algo, covered).digest()))
        status = TimestampSignatureStatus(**kwargs)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError,
            SignatureValidationError, binascii.Error):
        return TimestampInfo("signature", None, None, False)
    tsa = status.signing_cert
    return TimestampInfo(
        "signature", status.timestamp,
        x509.load_der_x509_certificate(tsa.dump()).subject.rfc4514_string() if tsa else None,
        bool(status.intact and status.valid and status.trusted))


