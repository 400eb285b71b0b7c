"""One error family for the whole core: kinds with a stable code, and nothing about the wire.

As Boulder's ``errors/errors.go`` keeps typed kinds and only ``web/probs.go`` turns them into
HTTP problems, each front maps these kinds once: ``/api/v1`` to a status and a JSON problem
(``edge/problems.py``), the enrollment web to its pages, OCSP to ``malformedRequest`` /
``unauthorized`` / ``internalError``, the TSA to a PKIStatusInfo failInfo and the command line
to one line on stderr. ``code`` is stable for clients; a front decides what it means there.
"""

from __future__ import annotations

__all__ = [
    "RegCAError", "Malformed", "InvalidSubject", "BadCSR", "WeakKey", "BlockedKey", "KeyInUse",
    "UnknownProfile",
    "NotFound", "AlreadyRevoked", "Unauthorized", "Forbidden", "Conflict", "AlreadyInitialised",
    "PayloadTooLarge", "Unprocessable", "TooManyRequests", "BackedOff", "ConfigurationError",
    "HsmUnavailable",
    "DependencyUnavailable", "KeyMismatch", "TokenOffline",
]


class RegCAError(Exception):
    """Base of every error the core raises on purpose; raised bare, it is the service's fault."""

    code = "internal"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# -- the caller's mistakes ---------------------------------------------------------------------


class Malformed(RegCAError):
    """The request cannot be understood as sent."""

    code = "malformed"


class InvalidSubject(Malformed):
    """A subscriber field failed validation; ``field`` names it for the caller."""

    code = "invalid_subject"

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class BadCSR(Malformed):
    code = "bad_csr"


class WeakKey(BadCSR):
    code = "weak_key"


class BlockedKey(BadCSR):
    """The public key was revoked for keyCompromise: never certified again."""

    code = "blocked_key"


class KeyInUse(BadCSR):
    """The public key is certified for another subject, or its profile allows no reuse."""

    code = "key_in_use"


class UnknownProfile(Malformed):
    code = "unknown_profile"


class Unauthorized(RegCAError):
    """Who is asking is not established: no credential, or a wrong one."""

    code = "unauthorized"


class Forbidden(RegCAError):
    """The caller is known but may not do this, or not to this JST's object."""

    code = "forbidden"


class NotFound(RegCAError):
    code = "not_found"


class Conflict(RegCAError):
    """The object's current state does not allow the request."""

    code = "conflict"


class AlreadyRevoked(Conflict):
    code = "already_revoked"


class AlreadyInitialised(Conflict):
    code = "already_initialised"


class PayloadTooLarge(RegCAError):
    """The request body is over the service's limit."""

    code = "payload_too_large"


class Unprocessable(RegCAError):
    """Well-formed, but refused on its content (a trusted list whose signature does not check
    out, say)."""

    code = "unprocessable"


class TooManyRequests(RegCAError):
    """The caller is over an agreed limit (a JST's monthly quota, say) until it resets."""

    code = "quota_exceeded"


class BackedOff(TooManyRequests):
    """Too many wrong guesses of a secret (password, one-time code, pickup code, revocation
    password) from this source or at this account: refused unread until ``retry_after``
    seconds have passed."""

    code = "backed_off"

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed attempts; try again in {retry_after} s")
        self.retry_after = retry_after


# -- the service's own faults ------------------------------------------------------------------


class ConfigurationError(RegCAError):
    code = "configuration"


class HsmUnavailable(RegCAError):
    """The PKCS#11 module, token, PIN or key could not be used."""

    code = "hsm_unavailable"


class TokenOffline(HsmUnavailable):
    """An offline token (the root's) asked for outside a ceremony: only a ceremony command,
    given the PIN by the operator, logs into it."""

    code = "token_offline"


class DependencyUnavailable(RegCAError):
    """A service we depend on (the TSA, an OCSP responder or CRL the requested level needs) did
    not answer: our fault, not the caller's."""

    code = "dependency_unavailable"


class KeyMismatch(HsmUnavailable):
    """The HSM key under a role's label is not the key its certificate certifies (a swapped
    certificate, a re-generated key, a label or CKA_ID pointing at another key): nothing may be
    signed with it, so it is as unusable as a missing key."""

    code = "key_mismatch"
