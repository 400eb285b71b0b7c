"""The monthly usage report per JST (CONTRACT.md, "regca report usage"): what the centre did
for each JST, as the regional programmes share costs and report indicators by it.

Months are Europe/Warsaw months. A seal is every successful call of ``/api/v1/sign/*`` made
with a JST's key (each one audit event, ca/seal_journal.py); ``signatures`` breaks them down
by format and level; ``timestamps`` counts the tokens the JST's keys took from ``/tsa`` and
those inside its seals; ``verifications`` the calls of ``/api/v1/verify`` with its keys.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from ca.errors import Malformed
from ca.seal_journal import SEAL_ACTIONS, VERIFY_ACTION
from ca.store import organizations as org_store
from ca.store import usage as usage_store
from ca.store.db import Database

__all__ = ["WARSAW", "COLUMNS", "Month", "OrganizationUsage", "UsageReport", "usage_report",
           "to_csv"]

WARSAW = ZoneInfo("Europe/Warsaw")
COLUMNS = ("teryt", "name", "certificates_issued", "certificates_revoked", "seals",
           "signatures", "timestamps", "verifications")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_FORMATS = {"pdf": "PAdES", "xml": "XAdES", "cms": "CAdES", "digest": "CAdES (digest)"}


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


@dataclass
class OrganizationUsage:
    teryt: str
    name: str
    certificates_issued: int = 0
    certificates_revoked: int = 0
    seals: int = 0
    signatures: dict[str, int] = field(default_factory=dict)  # "PAdES B-T" -> count
    timestamps: int = 0
    verifications: int = 0
    seals_by_region_seal: int = 0  # sealed with the region's seal standing in for the JST's
    issued_by_profile: dict[str, int] = field(default_factory=dict)
    revoked_by_profile: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"teryt": self.teryt, "name": self.name,
                "certificates_issued": self.certificates_issued,
                "certificates_revoked": self.certificates_revoked, "seals": self.seals,
                "signatures": dict(sorted(self.signatures.items())),
                "timestamps": self.timestamps, "verifications": self.verifications,
                "seals_by_region_seal": self.seals_by_region_seal,
                "certificates_issued_by_profile": dict(sorted(self.issued_by_profile.items())),
                "certificates_revoked_by_profile": dict(sorted(self.revoked_by_profile.items()))}

    def cells(self) -> list[str | int]:
        """One CSV/table row in COLUMNS order; the breakdown as text in its cell."""
        return [self.teryt, self.name, self.certificates_issued, self.certificates_revoked,
                self.seals, signatures_text(self.signatures), self.timestamps,
                self.verifications]


def signatures_text(signatures: dict[str, int]) -> str:
    return ", ".join(f"{k}: {n}" for k, n in sorted(signatures.items()))


@dataclass(frozen=True)
class UsageReport:
    month: Month
    organizations: list[OrganizationUsage]

    def to_json(self) -> dict:
        return {"month": str(self.month),
                "organizations": [o.to_json() for o in self.organizations]}


def usage_report(db: Database, month: Month) -> UsageReport:
    """Every JST the home serves, with zeros where nothing happened."""
    start, end = month.start, month.end
    with db.reading() as s:
        rows = {o.teryt: OrganizationUsage(o.teryt, o.name) for o in org_store.all_(s)}
        issued = usage_store.certificates_per_profile(s, "issued_at", start, end)
        revoked = usage_store.certificates_per_profile(s, "revoked_at", start, end)
        seals = usage_store.events_of(s, SEAL_ACTIONS, start, end)
        verifications = usage_store.events_of(s, (VERIFY_ACTION,), start, end)
        tokens = usage_store.tokens_per_requester(s, start, end)
        keys = usage_store.api_key_organizations(s)
    # A JST no longer served (or none) is left out: the report is per organisation served.
    for teryt, profile, n in issued:
        if (row := rows.get(teryt)) is not None:
            row.certificates_issued += n
            row.issued_by_profile[profile] = n
    for teryt, profile, n in revoked:
        if (row := rows.get(teryt)) is not None:
            row.certificates_revoked += n
            row.revoked_by_profile[profile] = n
    for teryt, _action, details in seals:
        if (row := rows.get(teryt)) is not None:
            row.seals += 1
            fmt = details.get("format")
            label = f"{_FORMATS.get(fmt, fmt)} {details.get('level')}"
            row.signatures[label] = row.signatures.get(label, 0) + 1
            row.timestamps += len(details.get("timestamp_serials") or ())
            row.seals_by_region_seal += bool(details.get("seal_fallback"))
    for teryt, _action, _details in verifications:
        if (row := rows.get(teryt)) is not None:
            row.verifications += 1
    for requester, n in tokens.items():
        key_id = requester.removeprefix("apikey:")
        if key_id != requester and (row := rows.get(keys.get(key_id))) is not None:
            row.timestamps += n
    return UsageReport(month, [rows[t] for t in sorted(rows)])


def to_csv(report: UsageReport) -> str:
    """CSV as Polish Excel opens it: UTF-8 with a BOM, ``;`` between fields, CRLF lines."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for org in report.organizations:
        writer.writerow(org.cells())
    return out.getvalue()
