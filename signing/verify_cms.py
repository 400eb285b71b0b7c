"""Detached CMS/CAdES validation with pyHanko over the content the caller sends with it."""

from __future__ import annotations

import asyncio

from asn1crypto import cms
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms

from signing.errors import BadDocument
from signing.report import Indication, SignatureResult, ValidationReport
from signing.trust import TrustStore
from signing.verdict import path_of, signer_of, timestamp_of, verdict

__all__ = ["CadesVerifier", "load_signed_data"]


def load_signed_data(der: bytes) -> cms.SignedData:
    try:
        if der.startswith(b"-----BEGIN"):
            from asn1crypto import pem
            _, _, der = pem.unarmor(der)  # ValueError for a header without its END line
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise ValueError("not SignedData")
        signed = info["content"]
        _ = signed.native  # parse it all now, so a malformed structure fails here
        return signed
    except RecursionError:
        raise BadDocument("signature: the DER is nested too deeply") from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise BadDocument(f"signature: not a DER CMS SignedData ({str(exc)[:200]})") from None


class CadesVerifier:
    def __init__(self, trust: TrustStore, fetching: bool):
        self.trust, self.fetching = trust, fetching

    def verify(self, signature: bytes, content: bytes) -> ValidationReport:
        signed = load_signed_data(signature)
        vc = self.trust.validation_context(fetching=self.fetching)
        try:
            status = asyncio.run(async_validate_detached_cms(content, signed, vc, vc))
        except SignatureValidationError as exc:
            return ValidationReport((SignatureResult("CAdES", Indication.TOTAL_FAILED,
                                                     "FORMAT_FAILURE", detail=str(exc)),))
        stamp = timestamp_of(status.timestamp_validity, "signature")
        indication, sub = verdict(status, stamp)
        best = stamp.time if stamp and stamp.valid else self.trust.now()
        return ValidationReport((SignatureResult(
            "CAdES", indication, sub, signer=signer_of(status),
            signing_time=status.signer_reported_dt,
            best_signature_time=best,
            timestamps=(stamp,) if stamp else (), chain=path_of(status),
            qualification=self.trust.qualification(status.validation_path, best)),))
