"""The registration authority's own settings in regca.toml, checked when loaded: how long a
pickup code stays valid (``[enrollment] pickup_code_days``, default 30) and the back-off of
guessed secrets (``[backoff]``, ``ra.backoff``)."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field

from ca.config import Settings
from ca.errors import ConfigurationError
from ra.backoff import Backoff

__all__ = ["RaSettings", "PICKUP_CODE_DAYS"]

PICKUP_CODE_DAYS = 30


@dataclass(frozen=True)
class RaSettings:
    pickup_validity: dt.timedelta = dt.timedelta(days=PICKUP_CODE_DAYS)
    backoff: Backoff = field(default_factory=Backoff)

    @classmethod
    def load(cls, settings: Settings) -> RaSettings:
        return cls.from_toml(tomllib.loads(settings.config_file.read_text()))

    @classmethod
    def from_toml(cls, raw: dict) -> RaSettings:
        """From regca.toml's tables; a bad value fails at start-up naming the field."""
        days = raw.get("enrollment", {}).get("pickup_code_days", PICKUP_CODE_DAYS)
        if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
            raise ConfigurationError("regca.toml [enrollment] pickup_code_days: a positive "
                                     f"whole number of days, not {days!r}")
        return cls(dt.timedelta(days=days), Backoff.from_table(raw.get("backoff", {})))
