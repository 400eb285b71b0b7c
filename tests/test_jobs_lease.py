"""The jobs lease (one node runs the jobs at a time, another takes over when it expires) and
the CRLs published in the database (every node serves the same bytes), on SQLite and
PostgreSQL. The lab's drills (tests/test_ha_lab.py) show both across real nodes."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
from conftest import PINNED

from ca.clock import FixedClock
from ca.context import CaContext
from ca.crl import CrlPublisher, PublishedCopy, crl_path
from ca.lease import JobsLease, lease_holder
from regca.scheduler import run_once

pytestmark = pytest.mark.hsm


@pytest.fixture
def clock():
    return FixedClock(PINNED)


def _node(ctx: CaContext, clock: FixedClock, name: str, ttl: float = 15) -> JobsLease:
    """A node's lease on the same database (its own context: its own pool), at ``clock``."""
    return JobsLease(CaContext(ctx.settings, clock), holder=name, ttl=ttl, name="test-lease")


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_one_node_holds_the_lease_and_the_other_waits(ctx, clock):
    a, b = _node(ctx, clock, "node-a:1"), _node(ctx, clock, "node-b:1")
    assert a.hold()
    assert not b.hold()
    clock.advance(seconds=10)
    assert a.hold(), "the holder renews"
    clock.advance(seconds=10)  # 20 s after taking it, 10 s after the renewal
    assert not b.hold(), "a renewed lease has not expired"
    assert lease_holder(a.ctx, "test-lease")["holder"] == "node-a:1"
    a.release()


def test_an_expired_lease_moves_to_the_node_asking(ctx, clock):
    a, b = _node(ctx, clock, "node-a:2"), _node(ctx, clock, "node-b:2")
    assert a.hold()
    clock.advance(seconds=15.5)  # node a stopped renewing: its machine is lost
    assert b.hold()
    assert not a.hold(), "the old holder, back, finds the lease taken"
    held = lease_holder(b.ctx, "test-lease")
    assert held["holder"] == "node-b:2" and not held["lapsed"]
    b.release()


def test_a_released_lease_is_taken_at_once(ctx, clock):
    a, b = _node(ctx, clock, "node-a:3"), _node(ctx, clock, "node-b:3")
    assert a.hold()
    a.release()
    assert b.hold()
    b.release()


def test_a_restarted_jobs_process_takes_over_from_its_dead_predecessor(ctx, clock):
    assert _node(ctx, clock, f"node-c:{_dead_pid()}").hold()
    restarted = _node(ctx, clock, f"node-c:{os.getpid()}")
    assert restarted.hold(), "waited for the lease of a process that no longer exists"
    restarted.release()


def test_a_live_predecessor_on_the_same_node_keeps_its_lease(ctx, clock):
    alive = _node(ctx, clock, f"node-f:{os.getpid()}")
    assert alive.hold()
    assert not _node(ctx, clock, f"node-f:{_dead_pid()}").hold()
    alive.release()


def test_a_dead_holder_on_another_node_keeps_its_lease_until_it_expires(ctx, clock):
    other = _node(ctx, clock, f"node-d:{_dead_pid()}")
    assert other.hold()
    assert not _node(ctx, clock, "node-e:1").hold(), "a pid of another node says nothing here"
    clock.advance(seconds=16)
    assert _node(ctx, clock, "node-e:1").hold()


def test_a_round_stops_when_the_lease_is_lost(ctx):
    before = _crl_number(ctx)
    assert run_once(ctx, leading=lambda: False) == []
    assert _crl_number(ctx) == before, "a node without the lease published a CRL"


def _crl_number(ctx) -> int | None:
    from ca.store import crl as crl_store  # the tests may read the store
    with ctx.db.reading() as s:
        return crl_store.published_numbers(s).get(("issuing", False))


def test_every_node_serves_the_crl_another_node_published(ctx, tmp_path):
    published = CrlPublisher(ctx).publish("issuing")
    other = CaContext(dataclasses.replace(ctx.settings, home=tmp_path / "node-b"), ctx.clock)
    copies = PublishedCopy(other)
    assert ("issuing", False) in copies.sync()
    there = crl_path(other.settings.crl_dir, "issuing", False).read_bytes()
    assert there == published.path.read_bytes()
    assert copies.sync() == [], "nothing new: nothing written"


def test_a_node_replaces_a_stale_crl_file_with_the_published_one(ctx, tmp_path):
    old = CrlPublisher(ctx).publish("issuing").path.read_bytes()
    node = CaContext(dataclasses.replace(ctx.settings, home=tmp_path / "node-c"), ctx.clock)
    path = crl_path(node.settings.crl_dir, "issuing", False)
    path.parent.mkdir(parents=True)
    path.write_bytes(old)
    newer = CrlPublisher(ctx).publish("issuing")
    PublishedCopy(node).sync()
    assert path.read_bytes() == newer.path.read_bytes() != old


def test_status_names_the_node_holding_the_jobs_lease(ctx, clock):
    from regca.status_report import build_report
    node = JobsLease(CaContext(ctx.settings, clock), holder="node-s:1")  # the jobs' own lease
    assert node.hold()
    report = build_report(node.ctx)
    assert report.jobs["lease"]["holder"] == "node-s:1"
    assert not report.jobs["lease"]["lapsed"]
    assert "jobs lease held by node-s:1" in report.as_text()
    node.release()
    assert build_report(node.ctx).jobs["lease"] is None
