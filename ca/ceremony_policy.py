"""How long what the root signs at a ceremony must last (policies/ceremonies.toml, quoted by
the CP/CPS §5.2.2): the interval between root ceremonies and a margin past it."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ca.errors import ConfigurationError

__all__ = ["CeremonyPolicy", "load_ceremony_policy"]


@dataclass(frozen=True)
class CeremonyPolicy:
    interval: dt.timedelta  # from one root ceremony to the next
    margin: dt.timedelta  # how long past the due date what the root signed stays valid

    def __post_init__(self):
        if self.interval <= dt.timedelta(0) or self.margin < dt.timedelta(0):
            raise ValueError("ceremonies: interval_days must be positive, margin_days not "
                             "negative")

    @property
    def validity(self) -> dt.timedelta:
        """nextUpdate - thisUpdate of the root CRL and of the root's OCSP answers."""
        return self.interval + self.margin


def load_ceremony_policy(policies_dir: Path) -> CeremonyPolicy:
    path = policies_dir / "ceremonies.toml"
    try:
        raw = tomllib.loads(path.read_text())
        return CeremonyPolicy(dt.timedelta(days=int(raw["interval_days"])),
                              dt.timedelta(days=int(raw["margin_days"])))
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: missing (the root ceremony interval)") from None
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{path}: {exc}") from None
