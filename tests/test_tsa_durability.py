"""A TSA worker killed under load loses no token it answered: every serial a client was granted
is in the store, although no process had the chance of a clean exit."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from urllib.parse import urlsplit

import pytest
from asn1crypto import tsp
from tsa_support import make_query, regca_serve, server_workers

from ca.store import timestamps as store

pytestmark = pytest.mark.hsm

CLIENTS = 8
KILLS = 2
GRANTED_BETWEEN_KILLS = 300


class _Load:
    """``CLIENTS`` keep-alive clients asking for time-stamps until stopped; a broken connection
    (its worker killed) is counted and replaced."""

    def __init__(self, base: str, query: bytes):
        self.url, self.query = urlsplit(base), query
        self.granted: list[int] = []
        self.broken = 0
        self.other: list = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client) for _ in range(CLIENTS)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _client(self):
        conn = None
        while not self._stop.is_set():
            try:
                conn = conn or http.client.HTTPConnection(self.url.hostname, self.url.port,
                                                          timeout=30)
                conn.request("POST", "/tsa", body=self.query,
                             headers={"Content-Type": "application/timestamp-query"})
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                self.broken += 1
                conn.close()
                conn = None
                time.sleep(0.01)
                continue
            reply = tsp.TimeStampResp.load(body)
            if resp.status == 200 and reply["status"]["status"].native == "granted":
                tst = reply["time_stamp_token"]["content"]["encap_content_info"]["content"]
                self.granted.append(tst.parsed["serial_number"].native)
            else:
                self.other.append((resp.status, body[:200]))

    def wait_for(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.granted) < count:
            assert time.monotonic() < deadline, f"only {len(self.granted)} tokens granted"
            time.sleep(0.01)


def _wait_for_workers(proc, count: int, not_in: set[int] = frozenset()) -> set[int]:
    deadline = time.monotonic() + 60
    while True:
        workers = server_workers(proc) - not_in
        if len(workers) >= count:
            return workers
        assert time.monotonic() < deadline, "the server did not start its workers"
        time.sleep(0.05)


def test_sigkilled_workers_lose_no_token_they_answered(home_ctx, tmp_path):
    query = make_query(tmp_path, "load", "-sha256", "-cert").read_bytes()
    killed: set[int] = set()
    with regca_serve(home_ctx.settings.home, workers=2) as (base, proc):
        _wait_for_workers(proc, 2)
        with _Load(base, query) as load:
            for round_ in range(1, KILLS + 1):
                load.wait_for(round_ * GRANTED_BETWEEN_KILLS)
                victims = _wait_for_workers(proc, 2, killed)  # replacements of the last round
                # A worker that dies within a second of its start is a crash loop, which stops
                # the server by design (regca/server.py): kill them older than that.
                time.sleep(2)
                for pid in victims:
                    os.kill(pid, signal.SIGKILL)  # mid-load: requests are in flight
                killed |= victims
            load.wait_for((KILLS + 1) * GRANTED_BETWEEN_KILLS)  # served by the replacements
        # No clean exit for anyone: the whole server dies at once, mid-nothing.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    assert load.broken > 0  # the kills did cut requests off
    assert not load.other, load.other[:3]
    granted = set(load.granted)
    assert len(granted) == len(load.granted)
    with home_ctx.db.reading() as s:
        recorded = {r.serial for r in store.tokens_between(s, min(granted), max(granted))}
    missing = granted - recorded
    assert not missing, f"{len(missing)} of {len(granted)} answered tokens are not on record"
