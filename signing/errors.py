"""The signing API's own members of the RegCAError family (mapped to JSON only in web.py)."""

from __future__ import annotations

from ca.errors import Malformed, RegCAError

__all__ = ["BadDocument", "DependencyUnavailable", "PayloadTooLarge", "TrustedListRefused"]


class BadDocument(Malformed):
    """The body is not a document the endpoint can sign (not a PDF, encrypted, not XML...)."""

    code = "bad_document"


class PayloadTooLarge(RegCAError):
    code, status = "payload_too_large", 413


class DependencyUnavailable(RegCAError):
    """The TSA, OCSP responder or CRL the requested level needs did not answer: our fault."""

    code, status = "dependency_unavailable", 503


class TrustedListRefused(RegCAError):
    """A trusted list (ETSI TS 119 612) that cannot be read, or whose signature does not check
    out against the pinned signers; it is not stored."""

    code, status = "trusted_list_refused", 422
