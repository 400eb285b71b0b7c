"""The CP/CPS and the profile files are one source: a disagreement fails here."""

from __future__ import annotations

import re
import tomllib

import pytest

from ca.config import POLICIES_DIR
from ca.profiles import ANY_POLICY, ETSI_POLICIES, Profile, load_profiles

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
    assert _listed(oid) == list(profile.policy_oids)
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
        for oid in profile.policy_oids:
            assert oid in ETSI_POLICIES or oid == ANY_POLICY or oid.startswith(OIDS["arc"] + ".")


def test_cps_says_why_each_etsi_policy_is_claimed():
    section = CPS.split("### 1.2", 1)[1].split("### 1.3", 1)[0]
    for profile in PROFILES:
        for oid in profile.etsi_policies:
            assert f"`{oid}`" in section and ETSI_POLICIES[oid] in section


@pytest.mark.parametrize("ca", [p for p in PROFILES if p.is_ca and p.issuer != "self"],
                         ids=lambda p: p.name)
def test_a_subordinate_ca_asserts_exactly_the_policies_of_what_it_issues(ca):
    """RFC 5280 §6.1.3: explicit-policy validation keeps an end entity's policy only when each
    CA above it asserts it too; a policy no profile uses would widen what the CA may sign."""
    issued = {oid for p in PROFILES if p.issuer == ca.name.removesuffix("-ca")
              for oid in p.policy_oids}
    assert set(ca.policy_oids) == issued


def _profile(**changes) -> Profile:
    base = dict(name="x", title="x", subject="staff", issuer="issuing",
                policy_oids=("0.4.0.2042.1.1", "1.3.6.1.4.1.99999.616.2.1"), validity_days=1,
                key_usage=("content_commitment",), extended_key_usage=(), required_fields=(),
                key_algorithms=("ec-p256",))
    return Profile(**{**base, **changes})


def test_a_well_formed_end_entity_profile_loads():
    assert _profile().own_policy == "1.3.6.1.4.1.99999.616.2.1"


def test_a_profile_mixing_signing_and_authentication_key_usage_is_refused():
    with pytest.raises(ValueError, match="mixed key usage"):
        _profile(key_usage=("digital_signature", "content_commitment"))


@pytest.mark.parametrize("oids", [("1.3.6.1.4.1.99999.616.2.1",),
                                  ("0.4.0.2042.1.1", "0.4.0.2042.1.2"),
                                  ("0.4.0.2042.1.1", ANY_POLICY)])
def test_an_end_entity_profile_claims_one_etsi_policy_and_one_of_its_own(oids):
    with pytest.raises(ValueError, match="ETSI EN 319 411-1"):
        _profile(policy_oids=oids)
