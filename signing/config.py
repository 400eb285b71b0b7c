"""The ``[signing]`` table of regca.toml, checked when the app starts.

    [signing]
    max_body_bytes = 16777216             # larger bodies get 413
    trust_anchors = ["extra/other-ca.pem"] # PEM files (relative to the home) trusted beside our root
    tsa_url = "https://tsa.example/tsa"   # default: the home's own /tsa
    timestamper = "http"                  # or "in-process" (TSA key in the HSM, no HTTP)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from ca.context import CaContext
from ca.errors import ConfigurationError

__all__ = ["DEFAULT_MAX_BODY", "SigningConfig"]

DEFAULT_MAX_BODY = 16 * 1024 * 1024
_TIMESTAMPERS = ("http", "in-process")


@dataclass(frozen=True)
class SigningConfig:
    max_body_bytes: int = DEFAULT_MAX_BODY
    trust_anchors: tuple[x509.Certificate, ...] = ()
    tsa_url: str | None = None
    timestamper: str = "http"

    def __post_init__(self):
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes <= 0:
            raise ConfigurationError("signing.max_body_bytes: must be a positive integer")
        if self.timestamper not in _TIMESTAMPERS:
            raise ConfigurationError(
                f"signing.timestamper: {self.timestamper!r} is not one of {', '.join(_TIMESTAMPERS)}")

    @classmethod
    def load(cls, ctx: CaContext) -> SigningConfig:
        raw = tomllib.loads(ctx.settings.config_file.read_text()).get("signing", {})
        anchors: list[x509.Certificate] = []
        for name in raw.get("trust_anchors", []):
            path = Path(name) if Path(name).is_absolute() else ctx.settings.home / name
            try:
                anchors += x509.load_pem_x509_certificates(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise ConfigurationError(f"signing.trust_anchors: {path}: {exc}") from None
        return cls(max_body_bytes=raw.get("max_body_bytes", DEFAULT_MAX_BODY),
                   trust_anchors=tuple(anchors), tsa_url=raw.get("tsa_url"),
                   timestamper=raw.get("timestamper", "http"))
