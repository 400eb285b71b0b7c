"""Calendar months in Europe/Warsaw, the months JST budgets and reports run by."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ca.errors import Malformed

__all__ = ["WARSAW", "Month"]

WARSAW = ZoneInfo("Europe/Warsaw")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Month:
    """A calendar month in Europe/Warsaw, as ``[start, end)`` in UTC."""

    year: int
    month: int

    def __post_init__(self):
        if not (1 <= self.month <= 12 and 2000 <= self.year <= 9999):
            raise Malformed(f"month: {self} is not a month (expected YYYY-MM)")

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.match(text or "")
        if not match:
            raise Malformed(f"month: {text!r} is not YYYY-MM")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, when: dt.datetime) -> Month:
        local = when.astimezone(WARSAW)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=WARSAW).astimezone(dt.timezone.utc)

    @property
    def end(self) -> dt.datetime:
        following = Month(self.year + self.month // 12, self.month % 12 + 1)
        return following.start
