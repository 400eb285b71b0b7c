"""The HSM's token store disappears from under a served home (2 workers) and comes back: while
it is away every service answers in its protocol (TSA systemFailure, OCSP tryLater, 503 JSON on
the APIs), never a 500, and /healthz says the HSM is down; once it is back, every service in
every worker works again within seconds, without a restart (issue 17, item 10)."""

from __future__ import annotations

import contextlib
from collections import Counter

import pytest
from fault_drill import PARALLEL, RECOVERY_SECONDS, Answer, Drill, failures
from revocation_support import serve_home, stop

pytestmark = pytest.mark.hsm

# What each service says while the HSM is away.
DURING = {Answer("tsa", 503, "rejection:system_failure"), Answer("ocsp", 200, "try_later"),
          Answer("ra", 503, "hsm_unavailable"), Answer("seal", 503, "hsm_unavailable")}


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    served = serve_home(tmp_path_factory.mktemp("hsm-drill"), None)
    try:
        drill = Drill.prepare(served)
        yield drill
    finally:
        stop(served.process)
        served.ctx.db.dispose()


@contextlib.contextmanager
def tokens_away(drill: Drill):
    tokens = drill.served.home / "hsm" / "tokens"
    away = tokens.with_name("tokens.away")
    tokens.rename(away)
    try:
        yield
    finally:
        away.rename(tokens)


def test_time_stamps_granted_again_by_every_worker_once_the_store_returns(drill):
    """The drill that found it: time-stamps only, so nothing but the TSA key meets the outage
    in each worker, whose session was opened at start-up to check the key (issue 17:
    afterwards only 5 to 9 of 16 were granted, for good)."""
    with tokens_away(drill):
        during = drill.round(only="tsa")
        assert set(during) == {Answer("tsa", 503, "rejection:system_failure")}, during
    spent, answers = drill.recovers(only="tsa")
    assert failures(answers) == {}, f"still failing {spent:.1f} s after the store returned"
    assert spent <= RECOVERY_SECONDS


def test_every_service_answers_in_its_protocol_away_and_recovers_when_back(drill):
    """Every service at once, in rounds of 32 parallel requests of each kind."""
    with tokens_away(drill):
        during = Counter()
        for _ in range(2):
            during += drill.round()
        assert set(during) == DURING, during
        assert sum(during.values()) == 2 * 4 * PARALLEL
        status, body = drill.health()
        assert status == 503 and body["hsm"] == "down" and body["database"] == "up"
    spent, answers = drill.recovers()
    assert failures(answers) == {}, f"still failing {spent:.1f} s after the store returned"
    assert spent <= RECOVERY_SECONDS
    assert drill.healthy_within(RECOVERY_SECONDS), drill.health()
