"""pyHanko's status objects turned into ETSI EN 319 102-1 indications.

pyHanko keeps intact / valid / trust facts apart (its ``status.py``); the order of the checks
below follows EN 319 102-1 §5.2: integrity (HASH_FAILURE) before the signature value
(SIG_CRYPTO_FAILURE) before the certificate path (X.509 validation sub-indications).
"""

from __future__ import annotations

from cryptography import x509
from pyhanko.sign.ades.report import AdESStatus

from signing.report import ChainEntry, Indication, Modifications, TimestampInfo, chain_entries

__all__ = ["BENIGN_REVOCATIONS", "ades_verdict", "chain_of", "path_of", "signer_of", "timestamp_of",
           "verdict"]

# RFC 5280 §5.3.1 reasons after which a signature proven to exist earlier stays valid (EN 319
# 102-1 §5.6.2.4). After keyCompromise (or an unnamed reason) a proof of existence before the
# revocation does not prove the signature came before the key was lost (RFC 5280 §5.3.2), so
# it stays REVOKED_NO_POE.
BENIGN_REVOCATIONS = frozenset({"superseded", "affiliation_changed", "cessation_of_operation"})

_MAIN = {AdESStatus.PASSED: Indication.TOTAL_PASSED, AdESStatus.FAILED: Indication.TOTAL_FAILED,
         AdESStatus.INDETERMINATE: Indication.INDETERMINATE}


def ades_verdict(result, modifications: Modifications | None = None, proven_before=None
                 ) -> tuple[Indication, str | None]:
    """pyHanko's EN 319 102-1 result, failed further by changes the signature does not allow.

    ``proven_before``: a time the signature is proven to have existed at (a document time-stamp
    over it); a signer's certificate revoked after it does not fail it (§5.6.2.4).
    """
    sub = result.ades_subindic
    indication = _MAIN[sub.status]
    name = None if indication is Indication.TOTAL_PASSED else sub.name
    details = getattr(result.api_status, "revocation_details", None)
    if name == "REVOKED_NO_POE" and _revoked_after(details, proven_before):
        indication, name = Indication.TOTAL_PASSED, None
    if indication is Indication.TOTAL_PASSED and _not_benign(details):
        # pyHanko passes any revocation after the proof; we do not after keyCompromise.
        indication, name = Indication.INDETERMINATE, "REVOKED_NO_POE"
    return _with_changes(indication, name, modifications)


def _revoked_after(details, proven) -> bool:
    return (details is not None and proven is not None and not details.ca_revoked
            and proven < details.revocation_date and not _not_benign(details))


def _not_benign(details) -> bool:
    return (details is not None and not details.ca_revoked
            and details.revocation_reason.native not in BENIGN_REVOCATIONS)


def _with_changes(indication: Indication, sub: str | None,
                  modifications: Modifications | None) -> tuple[Indication, str | None]:
    # A PDF changed beyond what its signature allows is not conformant to PAdES (EN 319 142-1
    # §5.1, ISO 32000-2 §12.8.2.2): TOTAL_FAILED with FORMAT_FAILURE, unless already failed.
    if (modifications is not None and modifications.state == "not_allowed"
            and indication is not Indication.TOTAL_FAILED):
        return Indication.TOTAL_FAILED, "FORMAT_FAILURE"
    return indication, sub


def verdict(status, signature_timestamp: TimestampInfo | None = None,
            modifications: Modifications | None = None) -> tuple[Indication, str | None]:
    indication, sub = _with_changes(*_basic(status), modifications)
    # EN 319 102-1 §5.6.2.4 (past signature validation): REVOKED_NO_POE becomes a pass when a
    # valid signature timestamp proves the signature existed before the signer's revocation.
    proven = (signature_timestamp.time if signature_timestamp is not None
              and signature_timestamp.valid else None)
    details = getattr(status, "revocation_details", None)
    if sub == "REVOKED_NO_POE" and _revoked_after(details, proven):
        return Indication.TOTAL_PASSED, None
    return indication, sub


def _basic(status) -> tuple[Indication, str | None]:
    if not status.intact:
        return Indication.TOTAL_FAILED, "HASH_FAILURE"
    if not status.valid:
        return Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE"
    problem = status.trust_problem_indic
    if problem is not None:
        failed = problem.status is AdESStatus.FAILED
        return (Indication.TOTAL_FAILED if failed else Indication.INDETERMINATE), problem.name
    return Indication.TOTAL_PASSED, None


def _crypto(asn1_cert) -> x509.Certificate:
    return x509.load_der_x509_certificate(asn1_cert.dump())


def signer_of(status) -> x509.Certificate | None:
    cert = getattr(status, "signing_cert", None)
    return _crypto(cert) if cert is not None else None


def path_of(status) -> tuple[ChainEntry, ...]:
    """The validated path, signer first; just the signer when no path was found."""
    return chain_of(getattr(status, "validation_path", None), signer_of(status))


def chain_of(path, signer: x509.Certificate | None) -> tuple[ChainEntry, ...]:
    """A pyhanko-certvalidator path, signer first; just ``signer`` without one."""
    if path is not None:
        return chain_entries([_crypto(c) for c in reversed(list(path.iter_certs(
            include_root=True)))])
    return chain_entries([signer]) if signer is not None else ()


def timestamp_of(ts_status, kind: str) -> TimestampInfo | None:
    if ts_status is None:
        return None
    tsa = signer_of(ts_status)
    return TimestampInfo(kind, ts_status.timestamp, tsa.subject.rfc4514_string() if tsa else None,
                         bool(ts_status.intact and ts_status.valid and ts_status.trusted))
