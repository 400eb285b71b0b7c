"""The database goes away under a served home (2 workers): the SQLite file moved out of the home,
or the PostgreSQL server stopped. Meanwhile no answer is a 500: the APIs answer 503 JSON, the
TSA systemFailure, OCSP tryLater (or what it can still state), and /healthz says the database
is down; once it is back, every service in every worker works again within seconds
(issue 17, item 10)."""

from __future__ import annotations

import contextlib
import json
from collections import Counter

import pytest
from conftest import PG_URL, make_home
from fault_drill import RECOVERY_SECONDS, Answer, Drill, failures
from revocation_support import http, serve_home, stop
from scratch_postgres import available, scratch_cluster

pytestmark = [pytest.mark.hsm, pytest.mark.slow]

# What each service may say while the database is away. OCSP answers a nonce from the status
# it can still read (a SQLite connection opened before the move reads the moved file) or asks
# the client to try later.
DURING = {Answer("tsa", 503, "rejection:system_failure"), Answer("ocsp", 200, "try_later"),
          Answer("ocsp", 200, "good"), Answer("ra", 503, "dependency_unavailable"),
          Answer("seal", 503, "dependency_unavailable")}


def _drill_outage(drill: Drill, away, back) -> None:
    """Warm every worker, take the database away, check what every service says, bring it
    back and check that every service works again within RECOVERY_SECONDS."""
    assert failures(drill.round()) == {}
    away()
    try:
        during = Counter()
        for _ in range(2):
            during += drill.round()
        assert set(during) <= DURING, during
        assert not any(a.status == 500 for a in during)
        assert {a.service for a in during if a.status == 503} == {"tsa", "ra", "seal"}
        status, body = drill.health()
        assert status == 503 and body["database"] == "down" and body["hsm"] == "up"
        assert _reads(drill) == [(503, "dependency_unavailable")] * 2
    finally:
        back()
    spent, answers = drill.recovers()
    assert failures(answers) == {}, f"still failing {spent:.1f} s after the database returned"
    assert _reads(drill) == [(200, "")] * 2
    assert spent <= RECOVERY_SECONDS
    assert drill.healthy_within(RECOVERY_SECONDS), drill.health()


def _reads(drill: Drill) -> list[tuple[int, str]]:
    """What a certificate's status (RA API) and the log's tree head say: reads only."""
    serial = format(drill.certificates[0].serial_number, "x")
    found = []
    for path in (f"/api/v1/certificates/{serial}", "/transparency/v1/sth"):
        status, headers, body = http(drill.served.base + path,
                                     headers={"Authorization": f"Bearer {drill.ra_key}"})
        assert headers.get_content_type() == "application/json", (path, status)
        found.append((status, json.loads(body).get("error", {}).get("code", "")))
    return found


def test_sqlite_file_gone_no_answer_is_a_500_and_every_service_recovers(tmp_path):
    served = serve_home(tmp_path, None)
    try:
        drill = Drill.prepare(served)
        files = [p for p in served.ctx.db.files if p.exists()]
        hidden = tmp_path / "moved-away"
        hidden.mkdir()

        def away():
            for path in files:
                path.rename(hidden / path.name)

        def back():
            for path in files:
                (hidden / path.name).rename(path)

        _drill_outage(drill, away, back)
        # Nothing made an empty database in the file's place while it was away.
        assert not list(hidden.iterdir())
    finally:
        stop(served.process)
        served.ctx.db.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="REGCA_TEST_DATABASE_URL not set")
@pytest.mark.skipif(not available(), reason="Debian's PostgreSQL server binaries not installed")
def test_postgresql_stopped_no_answer_is_a_500_and_every_service_recovers(tmp_path):
    with scratch_cluster() as pg:  # a server of the test's own: the shared one keeps running
        served = serve_home(tmp_path, pg.url)
        try:
            drill = Drill.prepare(served)
            served.ctx.db.dispose()  # this process's connections: not the server's to keep
            _drill_outage(drill, pg.stop, pg.start)
        finally:
            stop(served.process)
            with contextlib.suppress(Exception):
                served.ctx.db.dispose()


def test_web_log_in_while_the_sqlite_file_is_gone_is_a_503_page_then_works(tmp_path):
    """In-process: the enrollment web's form posts meet the database first."""
    from webclient import Visitor

    from regca.wsgi import create_app

    ctx = make_home(tmp_path / "home")
    visitor = Visitor(create_app(ctx.settings.home, ctx), ctx)
    login = {"username": "urzednik", "password": "not the password"}
    assert visitor.post("/login", login).status_code == 401  # the form again, with its error
    files = [p for p in ctx.db.files if p.exists()]
    hidden = tmp_path / "moved-away"
    hidden.mkdir()
    for path in files:
        path.rename(hidden / path.name)
    try:
        csrf = visitor.csrf("/login")
        r = visitor.client.post("/login", data={**login, "csrf_token": csrf})
        assert r.status_code == 503 and r.mimetype == "text/html", r.text[:300]
    finally:
        for path in files:
            (hidden / path.name).rename(path)
    assert visitor.post("/login", login).status_code == 401
    ctx.db.dispose()
