"""The officer's workstation talking to the CA over its RA API (``regca token enroll --ca-url``).

An HTTP client of the RA API (CONTRACT.md, "RA requests"), so it stands with the command line,
above the registration authority it serves, and never in the core.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from cryptography import x509

from ca.errors import DependencyUnavailable, RegCAError
from ca.identity import parse_subscriber
from ra.personalisation import Issued

__all__ = ["RemoteCa"]


class RemoteCa:
    """The CA's RA API (CONTRACT.md, "RA requests") with an API key of scope ``issue``."""

    def __init__(self, url: str, api_key: str, timeout: float = 30):
        self.url, self.api_key, self.timeout = url.rstrip("/"), api_key, timeout

    def check(self, profile: str, subject: dict) -> None:
        parse_subscriber(subject)  # the RA checks the rest; this catches typos before the token

    def issue(self, profile: str, csr: bytes, subject: dict) -> Issued:
        body = json.dumps({"profile": profile, "csr": csr.decode(), "subject": subject}).encode()
        req = urllib.request.Request(f"{self.url}/api/v1/certificates", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                answer = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise RegCAError(f"the CA refused: {_problem(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise DependencyUnavailable(f"cannot reach the CA at {self.url}: "
                                        f"{getattr(exc, 'reason', exc)}") from None
        try:
            return Issued(answer["serial"],
                          x509.load_pem_x509_certificate(answer["certificate"].encode()),
                          [x509.load_pem_x509_certificate(c.encode()) for c in answer["chain"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise RegCAError(f"the CA's answer is not an RA response: {exc}") from None

    def withdraw(self, serial: str) -> bool:
        """Ask the RA to revoke; needs the key's ``revoke`` scope, else the caller is told."""
        req = urllib.request.Request(
            f"{self.url}/api/v1/certificates/{serial}/revoke", method="POST",
            data=json.dumps({"reason": "cessationOfOperation"}).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout):
                return True
        except (urllib.error.URLError, OSError):
            return False


def _problem(exc: urllib.error.HTTPError) -> str:
    try:
        err = json.loads(exc.read())["error"]
        return f"{err['message']} ({exc.code} {err['code']})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.code}"
