"""The CP/CPS and the profile files are one source: a disagreement fails here."""

from __future__ import annotations

import re
import tomllib

import pytest

from ca.config import POLICIES_DIR
from ca.profiles import load_profiles

CPS = (POLICIES_DIR / "cps.md").read_text()
OIDS = tomllib.loads((POLICIES_DIR / "oids.toml").read_text())


def _cps_profile_rows() -> dict[str, list[str]]:
    section = CPS.split("### 7.1 Certificate profiles", 1)[1].split("### 7.2", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] not in ("Profile", "---"):
            rows[cells[0]] = cells
    return rows


def _listed(cell: str) -> list[str]:
    return [] if cell == "-" else [re.sub(r"\s*\(critical\)", "", c).strip()
                                   for c in cell.split(",")]


PROFILES = list(load_profiles(POLICIES_DIR))
ROWS = _cps_profile_rows()


def test_every_profile_has_a_cps_row_and_no_row_lacks_a_profile():
    assert sorted(ROWS) == sorted(p.name for p in PROFILES)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_cps_quotes_the_profile_values(profile):
    name, oid, validity, ku, eku, fields, algs = ROWS[profile.name]
    assert oid == profile.policy_oid
    assert int(validity) == profile.validity_days
    assert _listed(ku) == list(profile.key_usage)
    assert _listed(eku) == list(profile.extended_key_usage)
    assert ("(critical)" in eku) == profile.extended_key_usage_critical
    assert _listed(fields) == list(profile.required_fields)
    assert _listed(algs) == list(profile.key_algorithms)


def test_cps_identifies_the_policy_oids_of_oids_toml():
    section = CPS.split("### 1.2", 1)[1].split("### 1.3", 1)[0]
    assert f"Certificate policy OID: `{OIDS['certificate_policy']}`" in section
    assert f"Time-stamping policy OID: `{OIDS['tsa_policy']}`" in section
    for profile in PROFILES:
        assert profile.policy_oid.startswith(OIDS["arc"] + ".")
