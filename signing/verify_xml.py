"""XAdES validation: signxml checks references and the signature value, pyHanko's certvalidator
checks the path to our trust anchors (the same path rules as for PDF and CMS)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib

from asn1crypto import cms
from cryptography import x509
from lxml import etree
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.errors import (
    InvalidCertificateError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)
from signxml.exceptions import InvalidDigest, InvalidInput, InvalidSignature
from signxml.xades import XAdESVerifier

from signing.report import (
    Indication,
    SignatureResult,
    TimestampInfo,
    ValidationReport,
    chain_entries,
)
from signing.seal import to_asn1
from signing.trust import TrustStore
from signing.xades import DS, XADES, parse_xml

__all__ = ["XadesVerifier"]


class XadesVerifier:
    def __init__(self, trust: TrustStore, fetching: bool):
        self.trust, self.fetching = trust, fetching

    def verify(self, data: bytes) -> ValidationReport:
        root = parse_xml(data)
        signatures = root.findall(f".//{{{DS}}}Signature")
        if root.tag == f"{{{DS}}}Signature":
            signatures = [root]
        return ValidationReport(tuple(self._one(data, sig) for sig in signatures[:1]))

    def _one(self, data: bytes, signature) -> SignatureResult:
        certs = [x509.load_der_x509_certificate(base64.b64decode("".join(n.text.split())))
                 for n in signature.iter(f"{{{DS}}}X509Certificate")]
        if not certs:
            return SignatureResult("XAdES", Indication.INDETERMINATE,
                                   "NO_SIGNING_CERTIFICATE_FOUND")
        signer = certs[0]
        signing_time = _signing_time(signature)
        try:
            XAdESVerifier().verify(data, x509_cert=signer.public_bytes(
                _pem()).decode())
        except InvalidDigest as exc:
            return SignatureResult("XAdES", Indication.TOTAL_FAILED, "HASH_FAILURE", signer,
                                   signing_time, detail=str(exc))
        except InvalidSignature as exc:
            return SignatureResult("XAdES", Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE", signer,
                                   signing_time, detail=str(exc))
        except InvalidInput as exc:
            return SignatureResult("XAdES", Indication.TOTAL_FAILED, "FORMAT_FAILURE", signer,
                                   signing_time, detail=str(exc))
        stamps = _timestamps(signature, self.trust)
        best = next((t.time for t in stamps if t.valid), None) or self.trust.ctx.now()
        indication, sub, chain = self._path(signer, certs[1:], best)
        return SignatureResult("XAdES", indication, sub, signer, signing_time, best,
                               tuple(stamps), chain)

    def _path(self, signer, intermediates, moment):
        vc = self.trust.validation_context(fetching=self.fetching)
        validator = CertificateValidator(to_asn1(signer), [to_asn1(c) for c in intermediates],
                                         validation_context=vc)
        try:
            path = asyncio.run(validator.async_validate_usage({"non_repudiation"}))
        except RevokedError:
            return Indication.INDETERMINATE, "REVOKED_NO_POE", chain_entries([signer])
        except PathBuildingError:
            return Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND", chain_entries([signer])
        except (PathValidationError, InvalidCertificateError):
            return (Indication.INDETERMINATE, "CERTIFICATE_CHAIN_GENERAL_FAILURE",
                    chain_entries([signer]))
        certs = [x509.load_der_x509_certificate(c.dump())
                 for c in reversed(list(path.iter_certs(include_root=True)))]
        return Indication.TOTAL_PASSED, None, chain_entries(certs)


def _pem():
    from cryptography.hazmat.primitives.serialization import Encoding
    return Encoding.PEM


def _signing_time(signature) -> dt.datetime | None:
    node = signature.find(f".//{{{XADES}}}SigningTime")
    try:
        return dt.datetime.fromisoformat(node.text.strip()) if node is not None else None
    except ValueError:
        return None


def _timestamps(signature, trust: TrustStore) -> list[TimestampInfo]:
    """Each xades:SignatureTimeStamp validated by pyHanko: the token's signature, the TSA's chain
    to our anchors, and its imprint over the canonicalised ds:SignatureValue (EN 319 132-1
    §5.3)."""
    value = signature.find(f"{{{DS}}}SignatureValue")
    if value is None:
        return []
    c14n_value = etree.tostring(value, method="c14n")
    out = []
    for node in signature.iter(f"{{{XADES}}}EncapsulatedTimeStamp"):
        try:
            token = cms.ContentInfo.load(base64.b64decode("".join((node.text or "").split())))
            kwargs = asyncio.run(validate_tst_signed_data(
                token["content"], trust.validation_context(fetching=False),
                lambda algo: hashlib.new(algo, c14n_value).digest()))
            status = TimestampSignatureStatus(**kwargs)
        except (ValueError, TypeError, KeyError, SignatureValidationError):
            out.append(TimestampInfo("signature", None, None, False))
            continue
        tsa = status.signing_cert
        out.append(TimestampInfo(
            "signature", status.timestamp,
            x509.load_der_x509_certificate(tsa.dump()).subject.rfc4514_string() if tsa else None,
            bool(status.intact and status.valid and status.trusted)))
    return out
