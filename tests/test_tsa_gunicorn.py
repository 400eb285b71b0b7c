"""The TSA under ``regca serve`` (gunicorn, two workers): serials under concurrent load,
refusals inside the protocol without losing a worker, and every token on record."""

from __future__ import annotations

import http.client
import os
import threading
import time
from urllib.parse import urlsplit

import pytest
from asn1crypto import tsp
from tsa_support import make_query, post, regca_serve, server_workers, stop

from ca.store import timestamps as store
from tsa.reply import TimeStampResp

pytestmark = pytest.mark.hsm

TOKENS = 5000
CLIENTS = 8


@pytest.fixture(scope="module")
def server(home_ctx):
    with regca_serve(home_ctx.settings.home, workers=2, server="gunicorn") as (base, proc):
        deadline = time.monotonic() + 20
        while len(server_workers(proc)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # gunicorn forks its workers one after the other
        yield base, proc, home_ctx


def _status(body: bytes) -> tuple[str, set]:
    status = TimeStampResp.load(body)["status"]
    fail = status["fail_info"].native if status["fail_info"].native else set()
    return status["status"].native, fail


def test_md5_query_is_rejected_with_bad_alg(server, tmp_path):
    base, _, _ = server
    query = make_query(tmp_path, "md5", "-md5")
    status, ctype, body = post(base + "/tsa", query.read_bytes())
    assert (status, ctype) == (200, "application/timestamp-reply")
    assert _status(body) == ("rejection", {"bad_alg"})


def test_garbage_is_rejected_with_bad_data_format(server):
    base, _, _ = server
    status, ctype, body = post(base + "/tsa", os.urandom(300))
    assert (status, ctype) == (200, "application/timestamp-reply")
    assert _status(body) == ("rejection", {"bad_data_format"})


def test_oversized_query_is_rejected_with_bad_request(server):
    base, _, _ = server
    status, ctype, body = post(base + "/tsa", b"\x30" * 100_000)
    assert (status, ctype) == (413, "application/timestamp-reply")
    assert _status(body) == ("rejection", {"bad_request"})


def test_bad_queries_leave_workers_up(server, tmp_path):
    base, proc, _ = server
    before = server_workers(proc)
    for body in (os.urandom(50), b"\x30\x80" * 40, b"\x30" * 9000,
                 make_query(tmp_path, "md5b", "-md5").read_bytes()):
        post(base + "/tsa", body)
    status, _, body = post(base + "/tsa", make_query(tmp_path, "ok").read_bytes())
    assert status == 200 and _status(body) == ("granted", set())
    assert server_workers(proc) == before and len(before) == 2


def _hammer(base: str, query: bytes, count: int, serials: list, errors: list):
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        for _ in range(count):
            conn.request("POST", "/tsa", body=query,
                         headers={"Content-Type": "application/timestamp-query"})
            resp = conn.getresponse()
            body = resp.read()
            reply = tsp.TimeStampResp.load(body)
            if resp.status != 200 or reply["status"]["status"].native != "granted":
                errors.append((resp.status, body[:200]))
                continue
            tst = reply["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
            serials.append(tst["serial_number"].native)
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        conn.close()


@pytest.mark.slow
def test_two_workers_never_issue_the_same_serial_and_every_token_is_on_record(
        server, tmp_path):
    base, proc, ctx = server
    query = make_query(tmp_path, "load", "-sha256", "-cert").read_bytes()
    serials: list[int] = []
    errors: list = []
    threads = [threading.Thread(target=_hammer,
                                args=(base, query, TOKENS // CLIENTS, serials, errors))
               for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(serials) == TOKENS
    assert len(set(serials)) == TOKENS

    with ctx.db.reading() as s:  # on record as answered, with the server still running
        rows = store.tokens_between(s, min(serials), max(serials))
    recorded = {r.serial for r in rows}
    assert set(serials) <= recorded
    # the jobs process time-stamps tree heads from the same counter meanwhile (in-process)
    ours = [r for r in rows if r.serial in set(serials)]
    assert {r.hash_algorithm for r in ours} == {"sha256"}
    assert {r.requester for r in ours} == {"ip:127.0.0.1"}
    assert {r.requester for r in rows} <= {"ip:127.0.0.1", "in-process:transparency"}
    assert stop(proc) == 0
