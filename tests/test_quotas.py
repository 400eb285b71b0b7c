"""Optional monthly quotas per JST (regca.toml [quotas]): a seal over quota is 429 with a
message saying which quota and month, recorded as refused, and not counted as a seal."""

from __future__ import annotations

import json

import pytest
from signing_support import jst_seals, sample_pdf

from ca.errors import ConfigurationError
from ca.quotas import Quota, Quotas
from ca.store import audit as audit_store
from ra.apikeys import create_api_key
from regca.roles import in_process_timestamper, signing_app

pytestmark = pytest.mark.hsm

SEALS_JST, STAMPS_JST, DEFAULT_JST = "0861011", "0809000", "0809052"


@pytest.fixture(scope="module")
def api(home):
    jst_seals(home, SEALS_JST, STAMPS_JST, DEFAULT_JST)
    with open(home.settings.config_file, "a") as f:
        f.write(f'\n[quotas."{SEALS_JST}"]\nseals = 2\n'
                f'\n[quotas."{STAMPS_JST}"]\ntimestamps = 1\n'
                '\n[quotas.default]\nseals = 1\n')
    return signing_app(home, timestamper=in_process_timestamper(home),
                       fetch_revocation=False).test_client()


def seal(api, key, level):
    return api.post("/api/v1/sign/pdf", data=sample_pdf(), query_string={"level": level},
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/pdf"})


def outcomes(home, key) -> list[tuple[str, str | None]]:
    key_id = key.split("_")[1]
    with home.db.reading() as s:
        rows = [r for r in audit_store.events(s, action="sign.pdf", limit=100000)
                if r.actor == f"apikey:{key_id}"]
    return [(r.outcome, json.loads(r.details).get("error", {}).get("code"))
            for r in reversed(rows)]


def test_the_seal_past_the_quota_is_429_and_recorded(api, home):
    key = create_api_key(home, "EOD Gorzów", ["sign"], SEALS_JST)
    assert [seal(api, key, "B-B").status_code for _ in range(2)] == [200, 200]
    over = seal(api, key, "B-B")
    assert over.status_code == 429
    error = over.get_json()["error"]
    assert error["code"] == "quota_exceeded"
    assert f"JST {SEALS_JST} has used 2 of its 2 seals" in error["message"]
    assert outcomes(home, key) == [("success", None), ("success", None),
                                   ("refused", "quota_exceeded")]


def test_a_second_key_of_the_same_jst_shares_its_quota(api, home):
    other = create_api_key(home, "BIP Gorzów", ["sign"], SEALS_JST)
    assert seal(api, other, "B-B").status_code == 429


def test_the_time_stamp_quota_counts_tokens_not_seals(api, home):
    key = create_api_key(home, "EOD powiat", ["sign"], STAMPS_JST)
    assert seal(api, key, "B-T").status_code == 200  # its one token
    assert seal(api, key, "B-B").status_code == 200  # takes none
    over = seal(api, key, "B-T")
    assert over.status_code == 429
    assert "time-stamps" in over.get_json()["error"]["message"]


def test_the_default_quota_holds_for_a_jst_without_its_own(api, home):
    key = create_api_key(home, "EOD Świdnica", ["sign"], DEFAULT_JST)
    assert [seal(api, key, "B-B").status_code for _ in range(2)] == [200, 429]


def test_a_key_bound_to_no_jst_has_no_quota(api, home):
    key = create_api_key(home, "region", ["sign"], None)
    assert [seal(api, key, "B-B").status_code for _ in range(3)] == [200] * 3


@pytest.mark.parametrize("table, field", [
    ({"086201": {"seals": 1}}, '"086201"'),
    ({"0862011": {"seals": -1}}, "seals"),
    ({"0862011": {"seals": "10"}}, "seals"),
    ({"0862011": {"signatures": 1}}, "signatures"),
    ({"0862011": 5}, '"0862011"'),
])
def test_a_bad_quota_table_names_the_field(table, field):
    with pytest.raises(ConfigurationError, match=field):
        Quotas.from_table(table)


def test_quota_of_a_jst_is_its_own_else_the_default():
    quotas = Quotas.from_table({"0862011": {"seals": 5}, "default": {"timestamps": 7}})
    assert quotas.of("0862011") == Quota(seals=5)
    assert quotas.of("0861011") == Quota(timestamps=7)
    assert quotas.of(None) == Quota()


@pytest.mark.parametrize("ttl, refused", [(0.0, True), (3600.0, False)])
def test_the_guard_sees_other_workers_seals_at_its_next_read(home, ttl, refused):
    from ca.errors import TooManyRequests
    from ca.quotas import QuotaGuard
    from ca.seal_journal import SealAttempt, SealJournal
    jst = {0.0: "0802011", 3600.0: "0800000"}[ttl]  # a JST of its own for each case
    guard = QuotaGuard(home.db, Quotas.from_table({jst: {"seals": 2}}), home.clock, ttl=ttl)
    guard.check(jst, 0)  # this worker's first seal: read 0, counts 1
    for _ in range(2):  # meanwhile another worker seals twice
        SealJournal(home.db, home.clock).record(SealAttempt(
            key_id="0123456789ab", key_name="other worker", organization_teryt=jst,
            format="cms", level="B-B", document_sha256="11" * 32, seal_serial="1"))
    if refused:  # read again: 2 sealed, a third would pass the quota
        with pytest.raises(TooManyRequests, match="has used 2 of its 2 seals"):
            guard.check(jst, 0)
    else:  # within its ttl the guard still counts only its own seal
        guard.check(jst, 0)
