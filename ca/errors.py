"""One error family for the whole core, mapped to the wire only at the edges.

The API turns these into JSON problems, OCSP into ``malformedRequest``/``unauthorized``,
the TSA into a PKIStatusInfo failInfo and the command line into one line on stderr.
``status`` is the HTTP status a front end should use; ``code`` is stable for clients.
"""

from __future__ import annotations

__all__ = [
    "RegCAError", "Malformed", "InvalidSubject", "BadCSR", "WeakKey", "UnknownProfile",
    "NotFound", "AlreadyRevoked", "Unauthorized", "Forbidden", "ConfigurationError",
    "HsmUnavailable", "KeyMismatch", "AlreadyInitialised", "Conflict",
]


class RegCAError(Exception):
    """Base of every error the core raises on purpose."""

    code = "internal"
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def problem(self) -> tuple[int, dict]:
        """The HTTP status and the contract's JSON error body for this error."""
        return self.status, {"error": {"code": self.code, "message": self.message}}


class Malformed(RegCAError):
    code, status = "malformed", 400


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


class UnknownProfile(Malformed):
    code = "unknown_profile"


class NotFound(RegCAError):
    code, status = "not_found", 404


class AlreadyRevoked(RegCAError):
    code, status = "already_revoked", 409


class Conflict(RegCAError):
    code, status = "conflict", 409


class Unauthorized(RegCAError):
    code, status = "unauthorized", 401


class Forbidden(RegCAError):
    code, status = "forbidden", 403


class ConfigurationError(RegCAError):
    code, status = "configuration", 500


class AlreadyInitialised(RegCAError):
    code, status = "already_initialised", 409


class HsmUnavailable(RegCAError):
    """The PKCS#11 module, token, PIN or key could not be used."""

    code, status = "hsm_unavailable", 503


class KeyMismatch(HsmUnavailable):
    """The HSM key under a role's label is not the key its certificate certifies (a swapped
    certificate, a re-generated key, a label or CKA_ID pointing at another key): nothing may be
    signed with it, so it is as unusable as a missing key."""

    code = "key_mismatch"
