"""The signing API's own members of the RegCAError family, each a refinement of a core kind
(the /api/v1 mapper in edge/problems.py answers them as that kind).

Only the signing code raises these, so they live here. The kinds any service may raise
(``PayloadTooLarge``, ``DependencyUnavailable``) are in ``ca.errors``, so that the one mapper
needs nothing from a front.
"""

from __future__ import annotations

from ca.errors import Malformed, Unprocessable

__all__ = ["BadDocument", "TrustedListRefused"]


class BadDocument(Malformed):
    """The body is not a document the endpoint can sign (not a PDF, encrypted, not XML...)."""

    code = "bad_document"


class TrustedListRefused(Unprocessable):
    """A trusted list (ETSI TS 119 612) that cannot be read, or whose signature does not check
    out against the pinned signers; it is not stored."""

    code = "trusted_list_refused"
