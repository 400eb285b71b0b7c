"""`regca apikey list [--json]` and `regca apikey revoke ID` (CONTRACT.md, "Output shapes"):
id, name, scopes, JST or '-', created, last used, never the secret; a revoked key is refused
from the next request by every worker of a served home."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import make_home, run_cli
from sqlalchemy import select
from tsa_support import free_port, regca_serve

from ca.errors import Unauthorized
from ca.store.models import ApiKey, AuditEvent
from ra.apikeys import ApiKeys, create_api_key

pytestmark = pytest.mark.hsm

_WHEN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _lines(ctx) -> dict[str, list[str]]:
    r = run_cli(ctx.settings.home, "apikey", "list")
    assert r.code == 0, r.err
    return {line.split("\t")[0]: line.split("\t") for line in r.out.splitlines()}


def test_list_shows_six_fields_and_never_the_secret(ctx):
    bound = create_api_key(ctx, "rejestracja  ZG", ["issue", "revoke"], "0862011")
    free = create_api_key(ctx, "EOD", ["sign", "verify"], None)
    lines = _lines(ctx)
    bound_id, free_id = bound.split("_")[1], free.split("_")[1]
    assert lines[bound_id][1:4] == ["rejestracja ZG", "issue,revoke", "0862011"]
    assert lines[free_id][1:4] == ["EOD", "sign,verify", "-"]
    for fields in (lines[bound_id], lines[free_id]):
        assert len(fields) == 6 and _WHEN.match(fields[4]) and fields[5] == "-"
    out = run_cli(ctx.settings.home, "apikey", "list").out
    with ctx.db.reading() as s:
        hashes = [k.secret_hash for k in s.execute(select(ApiKey)).scalars()]
    for secret in (bound.split("_", 2)[2], free.split("_", 2)[2], *hashes):
        assert secret not in out


def test_list_as_json_and_last_used_after_a_use(ctx):
    key = create_api_key(ctx, "weryfikacja", ["verify"], None)
    key_id = key.split("_")[1]
    ApiKeys(ctx.db, ctx.clock).authenticate(key)
    r = run_cli(ctx.settings.home, "apikey", "list", "--json")
    found = {k["id"]: k for k in json.loads(r.out)}[key_id]
    assert set(found) == {"id", "name", "scopes", "jst", "created", "last_used"}
    assert found["scopes"] == ["verify"] and found["jst"] is None
    assert _WHEN.match(found["last_used"]) and _WHEN.match(found["created"])
    assert _lines(ctx)[key_id][5] == found["last_used"]


def test_revoke_removes_the_key_refuses_it_and_is_audited(ctx):
    key = create_api_key(ctx, "do odwołania", ["sign"], None)
    key_id = key.split("_")[1]
    r = run_cli(ctx.settings.home, "apikey", "revoke", key_id)
    assert r.code == 0 and r.out == f"{key_id}\trevoked\n"
    assert key_id not in _lines(ctx)
    with pytest.raises(Unauthorized, match="not valid"):
        ApiKeys(ctx.db, ctx.clock).authenticate(key)
    with ctx.db.reading() as s:
        events = s.execute(select(AuditEvent).where(AuditEvent.object == f"apikey:{key_id}",
                                                    AuditEvent.action == "apikey.revoke"))
        assert len(list(events.scalars())) == 1
    again = run_cli(ctx.settings.home, "apikey", "revoke", key_id)
    assert again.code == 1 and again.err.count("\n") == 1 and "already revoked" in again.err
    unknown = run_cli(ctx.settings.home, "apikey", "revoke", "000000000000")
    assert unknown.code == 1 and unknown.err.count("\n") == 1 and "no API key" in unknown.err


def test_revoking_by_the_whole_key_never_prints_its_secret(ctx):
    key = create_api_key(ctx, "wklejony cały", ["sign"], None)
    r = run_cli(ctx.settings.home, "apikey", "revoke", key)
    assert r.code == 0 and key.split("_", 2)[2] not in r.out + r.err


# -- a served home, two workers ------------------------------------------------------------------

@pytest.fixture(scope="module")
def served_two_workers(tmp_path_factory):
    port = free_port()
    ctx = make_home(tmp_path_factory.mktemp("apikeys") / "home",
                    public_url=f"http://127.0.0.1:{port}")
    ctx.db.dispose()
    with regca_serve(ctx.settings.home, workers=2, port=port) as (base, _proc):
        yield ctx.settings.home, base


def _status(base: str, key: str) -> int:
    req = urllib.request.Request(base + "/api/v1/certificates/abcdef",
                                 headers={"Authorization": f"Bearer {key}"})
    try:
        return urllib.request.urlopen(req, timeout=30).status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_revoked_key_is_refused_at_once_by_every_worker(served_two_workers):
    home, base = served_two_workers
    regca = [sys.executable, "-m", "regca.cli", "--home", str(home), "apikey"]
    key = subprocess.run([*regca, "create", "--name", "ra", "--scopes", "issue,revoke"],
                         capture_output=True, text=True, check=True, timeout=120).stdout.strip()
    with ThreadPoolExecutor(16) as pool:  # concurrent connections: both workers answer
        assert set(pool.map(lambda _: _status(base, key), range(32))) == {404}
        done = subprocess.run([*regca, "revoke", key.split("_")[1]], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert set(pool.map(lambda _: _status(base, key), range(32))) == {401}
