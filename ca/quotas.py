"""Optional monthly quotas per JST, from the ``[quotas]`` table of regca.toml:

    [quotas."0862011"]        # a JST by TERYT; Europe/Warsaw months
    seals = 5000              # successful calls of /api/v1/sign/* with the JST's keys
    timestamps = 2000         # time-stamp tokens in its seals and from /tsa with its keys

    [quotas.default]          # for every JST without a table of its own
    seals = 20000

A JST with neither has no limit; a key bound to no JST (the region's own systems) has none.
The signing API refuses a seal over quota with 429 (``TooManyRequests``), and the refusal is
audited like any other (ca/seal_journal.py).
"""

from __future__ import annotations

import re
import threading
import time
import tomllib
from dataclasses import dataclass

from ca.clock import Clock
from ca.config import Settings
from ca.errors import ConfigurationError, TooManyRequests
from ca.months import Month
from ca.store.db import Database

__all__ = ["KINDS", "Quota", "Quotas", "QuotaGuard"]

KINDS = ("seals", "timestamps")
_TERYT = re.compile(r"^\d{7}$")


@dataclass(frozen=True)
class Quota:
    seals: int | None = None
    timestamps: int | None = None


@dataclass(frozen=True)
class Quotas:
    per_jst: dict[str, Quota]
    default: Quota = Quota()

    def of(self, teryt: str | None) -> Quota:
        if teryt is None:
            return Quota()
        return self.per_jst.get(teryt, self.default)

    @classmethod
    def from_table(cls, raw: dict) -> Quotas:
        if not isinstance(raw, dict):
            raise ConfigurationError("quotas: must be a table of JST tables")
        per_jst, default = {}, Quota()
        for name, table in raw.items():
            where = f'quotas."{name}"'
            if name != "default" and not _TERYT.match(name):
                raise ConfigurationError(f"{where}: not a 7-digit TERYT code nor 'default'")
            if not isinstance(table, dict):
                raise ConfigurationError(f"{where}: must be a table (seals, timestamps)")
            unknown = set(table) - set(KINDS)
            if unknown:
                raise ConfigurationError(f"{where}.{sorted(unknown)[0]}: not one of "
                                         f"{', '.join(KINDS)}")
            for kind, value in table.items():
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ConfigurationError(f"{where}.{kind}: must be a whole number >= 0")
            quota = Quota(**table)
            if name == "default":
                default = quota
            else:
                per_jst[name] = quota
        return cls(per_jst, default)

    @classmethod
    def load(cls, settings: Settings) -> Quotas:
        raw = tomllib.loads(settings.config_file.read_text()).get("quotas", {})
        return cls.from_table(raw)


class QuotaGuard:
    """What the signing front asks before it seals: is this JST still within its month?

    The counts are the usage report's (ca/usage.py), read at most every ``ttl`` seconds per JST
    and raised here by each seal this worker lets through: counting a month's time-stamps reads
    every seal's details (64 ms for 1,200 seals on the development machine), too much to do
    before each seal. Seals of the other workers are seen at the next read, so a quota may be
    passed by what they seal within ``ttl`` seconds.
    """

    def __init__(self, db: Database, quotas: Quotas, clock: Clock, ttl: float = 5.0):
        self._db, self.quotas, self._clock, self._ttl = db, quotas, clock, ttl
        self._used: dict[tuple[str, str], tuple[float, int, int]] = {}
        self._lock = threading.Lock()

    def check(self, teryt: str | None, timestamps: int) -> None:
        """Refuse (TooManyRequests) a seal that would take the JST past a quota; ``timestamps``
        is how many tokens the seal will take (0 for B-B)."""
        quota = self.quotas.of(teryt)
        if teryt is None or (quota.seals is None and (quota.timestamps is None
                                                      or not timestamps)):
            return
        month = Month.of(self._clock.now())
        slot = (teryt, str(month))
        with self._lock:
            seals, stamps = self._counts(slot, teryt, month)
            if quota.seals is not None and seals + 1 > quota.seals:
                self._refuse(teryt, month, "seals", quota.seals, seals)
            if (quota.timestamps is not None and timestamps
                    and stamps + timestamps > quota.timestamps):
                self._refuse(teryt, month, "timestamps", quota.timestamps, stamps)
            read_at = self._used[slot][0]
            self._used[slot] = (read_at, seals + 1, stamps + timestamps)

    def _counts(self, slot: tuple[str, str], teryt: str, month: Month) -> tuple[int, int]:
        from ca.usage import seals_and_timestamps  # the report's own counting
        now = time.monotonic()
        cached = self._used.get(slot)
        if cached is None or now - cached[0] >= self._ttl:
            with_timestamps = self.quotas.of(teryt).timestamps is not None
            cached = (now, *seals_and_timestamps(self._db, teryt, month, with_timestamps))
            self._used[slot] = cached
        return cached[1], cached[2]

    @staticmethod
    def _refuse(teryt: str, month: Month, kind: str, limit: int, used: int) -> None:
        what = {"seals": ("pieczęci", "seals"), "timestamps": ("znaczników czasu",
                                                               "time-stamps")}[kind]
        raise TooManyRequests(
            f"quota: JST {teryt} has used {used} of its {limit} {what[1]} for {month} "
            f"(regca.toml [quotas]); the count starts again next month (Europe/Warsaw) / "
            f"limit {what[0]} JST {teryt} na {month} wyczerpany ({used} z {limit})")
