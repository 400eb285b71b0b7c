"""The monthly usage report per JST (CONTRACT.md, "regca report usage"): what the centre did
for each JST, as the regional programmes share costs and report indicators by it.

Months are Europe/Warsaw months. A seal is every successful call of ``/api/v1/sign/*`` made
with a JST's key (each one audit event, ca/seal_journal.py); ``signatures`` breaks them down
by format and level; ``timestamps`` counts the tokens the JST's keys took from ``/tsa`` and
those inside its seals; ``verifications`` the calls of ``/api/v1/verify`` with its keys.
"""

from __future__ import annotations

import csv
import io
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from ca.months import WARSAW, Month
from ca.seal_journal import SEAL_ACTIONS, VERIFY_ACTION
from ca.store import organizations as org_store
from ca.store import usage as usage_store
from ca.store.db import Database


class Reading(Protocol):
    """What the report reads through: the store, or the web's read-only view of it."""

    def reading(self) -> AbstractContextManager: ...

__all__ = ["WARSAW", "COLUMNS", "Month", "OrganizationUsage", "UsageReport", "usage_report",
           "to_csv", "seals_and_timestamps"]

COLUMNS = ("teryt", "name", "certificates_issued", "certificates_revoked", "seals",
           "signatures", "timestamps", "verifications")
_FORMATS = {"pdf": "PAdES", "xml": "XAdES", "cms": "CAdES", "digest": "CAdES (digest)"}


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


def usage_report(db: Reading, month: Month) -> UsageReport:
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


def seals_and_timestamps(db: Database, teryt: str, month: Month,
                         with_timestamps: bool = True) -> tuple[int, int]:
    """One JST's seals and time-stamps in ``month``, counted as the report counts them (the
    time-stamps only when asked: they cost a read of every seal's details)."""
    with db.reading() as s:
        seals = usage_store.count_events(s, teryt, SEAL_ACTIONS, month.start, month.end)
        if not with_timestamps:
            return seals, 0
        events = usage_store.events_of(s, SEAL_ACTIONS, month.start, month.end, teryt=teryt)
        tokens = usage_store.tokens_per_requester(s, month.start, month.end)
        keys = usage_store.api_key_organizations(s)
    stamps = sum(len(d.get("timestamp_serials") or ()) for _, _, d in events)
    holders: dict[str | None, set[str]] = {}
    for key_id, bound_to in keys.items():
        holders.setdefault(bound_to, set()).add(f"apikey:{key_id}")
    mine = holders.get(teryt, set())
    return seals, stamps + sum(n for requester, n in tokens.items() if requester in mine)


def to_csv(report: UsageReport) -> str:
    """CSV as Polish Excel opens it: UTF-8 with a BOM, ``;`` between fields, CRLF lines."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for org in report.organizations:
        writer.writerow(org.cells())
    return out.getvalue()
