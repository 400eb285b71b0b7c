"""Why a time-stamp request was refused, as RFC 3161 §2.4.2 PKIFailureInfo names it."""

from __future__ import annotations

__all__ = ["Rejected"]

# asn1crypto's names for the RFC 3161 §2.4.2 failure bits we use.
FAIL_INFOS = ("bad_alg", "bad_request", "bad_data_format", "unaccepted_policy",
              "unaccepted_extensions", "system_failure")


class Rejected(Exception):
    """Answered with PKIStatus rejection, a failInfo bit and a statusString for humans."""

    def __init__(self, fail_info: str, message: str, http_status: int = 200):
        if fail_info not in FAIL_INFOS:
            raise ValueError(f"unknown failInfo {fail_info!r}")
        super().__init__(message)
        self.fail_info, self.message, self.http_status = fail_info, message, http_status
