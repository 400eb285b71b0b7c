"""The ``[signing]`` table of regca.toml, checked when the app starts.

    [signing]
    max_body_bytes = 16777216             # larger bodies get 413
    trust_anchors = ["extra/other-ca.pem"] # PEM files (relative to the home) trusted too
    tsa_url = "https://tsa.example/tsa"   # default: the home's own /tsa
    timestamper = "http"                  # or "in-process" (the same TSA in this process)
    region_seal_stands_in = false         # true: a JST without a seal of its own seals with
                                          # the region's (said in header, audit and report)

    [signing.xades_policy]                # optional SignaturePolicyIdentifier (EN 319 132-1)
    identifier = "urn:oid:1.3.6.1.4.1.99999.616.3.1"
    description = "Polityka podpisu e-formularzy"
    digest_sha256 = "<base64 SHA-256 of the policy document>"

    [signing.fetching]                    # OCSP/CRL/AIA fetching when verifying (fetch_policy.py)
    enabled = true
    allow_hosts = ["ocsp.intranet.example", "10.20.0.0/16"]
    budget_seconds = 3.0
    max_bytes = 1048576
    max_crl_bytes = 10485760
"""

from __future__ import annotations

import base64
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from signxml.algorithms import DigestAlgorithm
from signxml.xades import XAdESSignaturePolicy

from ca.config import Settings
from ca.errors import ConfigurationError
from signing.fetch_policy import FetchPolicy

__all__ = ["DEFAULT_MAX_BODY", "SigningConfig"]

DEFAULT_MAX_BODY = 16 * 1024 * 1024
_TIMESTAMPERS = ("http", "in-process")


@dataclass(frozen=True)
class SigningConfig:
    max_body_bytes: int = DEFAULT_MAX_BODY
    trust_anchors: tuple[x509.Certificate, ...] = ()
    tsa_url: str | None = None
    timestamper: str = "http"
    xades_policy: XAdESSignaturePolicy | None = None
    fetching: FetchPolicy = FetchPolicy()
    region_seal_stands_in: bool = False

    def __post_init__(self):
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes <= 0:
            raise ConfigurationError("signing.max_body_bytes: must be a positive integer")
        if self.timestamper not in _TIMESTAMPERS:
            raise ConfigurationError(
                f"signing.timestamper: {self.timestamper!r} is not one of "
                f"{', '.join(_TIMESTAMPERS)}")
        if not isinstance(self.region_seal_stands_in, bool):
            raise ConfigurationError("signing.region_seal_stands_in: must be true or false")

    @classmethod
    def load(cls, settings: Settings) -> SigningConfig:
        """The ``[signing]`` table of ``settings.config_file``; paths are relative to
        ``settings.home``."""
        raw = tomllib.loads(settings.config_file.read_text()).get("signing", {})
        anchors: list[x509.Certificate] = []
        for name in raw.get("trust_anchors", []):
            path = Path(name) if Path(name).is_absolute() else settings.home / name
            try:
                anchors += x509.load_pem_x509_certificates(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise ConfigurationError(f"signing.trust_anchors: {path}: {exc}") from None
        return cls(max_body_bytes=raw.get("max_body_bytes", DEFAULT_MAX_BODY),
                   trust_anchors=tuple(anchors), tsa_url=raw.get("tsa_url"),
                   timestamper=raw.get("timestamper", "http"),
                   xades_policy=_xades_policy(raw.get("xades_policy")),
                   fetching=FetchPolicy.from_table(raw.get("fetching")),
                   region_seal_stands_in=raw.get("region_seal_stands_in", False))


def _xades_policy(raw: dict | None) -> XAdESSignaturePolicy | None:
    if raw is None:
        return None
    missing = [k for k in ("identifier", "description", "digest_sha256") if not raw.get(k)]
    if missing:
        raise ConfigurationError(f"signing.xades_policy.{missing[0]}: missing")
    try:
        if len(base64.b64decode(raw["digest_sha256"], validate=True)) != 32:
            raise ValueError
    except ValueError:
        raise ConfigurationError(
            "signing.xades_policy.digest_sha256: must be the base64 of a SHA-256") from None
    return XAdESSignaturePolicy(Identifier=raw["identifier"], Description=raw["description"],
                                DigestMethod=DigestAlgorithm.SHA256,
                                DigestValue=raw["digest_sha256"])
