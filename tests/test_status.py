"""``regca status``: what expires when, and exit 1 on any problem (CONTRACT.md: dates as
YYYY-MM-DD UTC, warning windows 30 days for service and 90 days for CA certificates by default,
a fresh demo home exits 0)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from conftest import PINNED, make_home, run_cli

from ca.clock import FixedClock
from ca.context import CaContext
from ca.crl import CrlPublisher
from regca.status_report import build_report, write_heartbeat

pytestmark = pytest.mark.hsm

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    ctx = make_home(tmp_path_factory.mktemp("status") / "home")
    yield ctx
    ctx.db.dispose()


def _status(home, *args: str):
    done = run_cli(home, "status", *args)
    return done, (json.loads(done.out) if "--json" in args and done.out else None)


def test_a_fresh_demo_home_exits_0_and_lists_every_certificate(fresh):
    done, report = _status(fresh.settings.home, "--json")
    assert done.code == 0, done.err
    assert report["ok"] is True and report["problems"] == []
    names = {c["name"]: c for c in report["certificates"]}
    assert set(names) == {"root", "issuing", "ocsp", "tsa", "seal"}
    assert {c["kind"] for n, c in names.items() if n in ("root", "issuing")} == {"ca"}
    assert (names["root"]["warning_days"], names["ocsp"]["warning_days"]) == (90, 30)
    for name, profile in (("root", "root-ca"), ("ocsp", "ocsp-responder"), ("tsa", "tsa")):
        assert DATE.match(names[name]["not_after"])
        expected = fresh.certificate_of(profile).not_valid_after_utc.strftime("%Y-%m-%d")
        assert names[name]["not_after"] == expected
    # Not there yet on a fresh home, and no problem: the issuing CA's CRLs before `regca
    # serve`, its jobs. The root's CRL comes from the ceremony that `init` is, and the root's
    # token is offline from then on.
    assert {(r["ca"], r["state"]) for r in report["crls"] if not r["delta"]} == {
        ("root", "ok"), ("issuing", "not published")}
    assert report["jobs"]["state"] == "not running"
    assert report["hsm"].pop("root") == "offline"
    assert set(report["hsm"].values()) == {"ok"}
    assert DATE.match(report["root_ceremony_due"])
    assert report["database"] == "ok"
    assert report["pending_issuances"] == {"pending": 0, "stale": 0}


def test_the_text_screen_gives_dates_and_says_no_problems(fresh):
    done, _ = _status(fresh.settings.home)
    assert done.code == 0
    ocsp = next(line for line in done.out.splitlines() if line.strip().startswith("ocsp"))
    expected = fresh.certificate_of("ocsp-responder").not_valid_after_utc.strftime("%Y-%m-%d")
    assert expected in ocsp and "ok" in ocsp
    assert done.out.rstrip().endswith("no problems")


def test_a_service_certificate_inside_its_window_exits_1(tmp_path):
    """A home made 35 days ago: its OCSP responder certificate (60 days) has 25 left, inside
    the 30-day window; the command line, on the real clock, says so and exits 1."""
    made = FixedClock(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=35))
    ctx = make_home(tmp_path / "home", clock=made)
    done, report = _status(ctx.settings.home, "--json")
    assert done.code == 1
    assert [p for p in report["problems"] if p.startswith("ocsp certificate")], report
    assert len(report["problems"]) == 1  # nothing else is wrong
    ocsp = next(c for c in report["certificates"] if c["name"] == "ocsp")
    assert ocsp["state"] == "expiring" and ocsp["days_left"] in (24, 25)
    assert done.err.startswith("regca: error: 1 problem(s): ocsp certificate")
    assert done.err.count("\n") == 1

    # A narrower window in regca.toml: the same home is fine.
    toml = ctx.settings.config_file
    toml.write_text(toml.read_text() + "\n[status]\nservice_warning_days = 20\n")
    done, report = _status(ctx.settings.home, "--json")
    assert done.code == 0, report["problems"]

    # A window that is not a number of days is the operator's mistake, named on one line.
    toml.write_text(toml.read_text().replace("service_warning_days = 20",
                                             'service_warning_days = "soon"'))
    done, _ = _status(ctx.settings.home)
    assert done.code == 1 and "status.service_warning_days" in done.err
    assert done.err.count("\n") == 1


def test_with_a_fake_clock_each_window_is_kept(fresh):
    """The core report under a clock moved on: 31 days before its end the TSA certificate is
    fine (the OCSP responder's, 60 days, long expired); 29 days before, it is expiring."""
    tsa_end = fresh.certificate_of("tsa").not_valid_after_utc
    clock = FixedClock(tsa_end - dt.timedelta(days=31))
    report = build_report(CaContext.open(fresh.settings.home, clock))
    states = {c.name: c.state for c in report.certificates}
    assert states["tsa"] == "ok" and states["ocsp"] == "expired"
    clock.advance(days=2)
    report = build_report(CaContext.open(fresh.settings.home, clock))
    assert {c.name: c.state for c in report.certificates}["tsa"] == "expiring"
    assert any(p.startswith("tsa certificate") for p in report.problems)


def test_a_stale_crl_and_a_silent_jobs_process_are_problems(tmp_path):
    clock = FixedClock(PINNED)
    ctx = make_home(tmp_path / "home", clock=clock)
    CrlPublisher(ctx).publish_due()
    write_heartbeat(ctx, 60, [])
    report = build_report(ctx)
    assert report.ok, report.problems
    assert {r.state for r in report.crls if r.ca == "issuing"} == {"ok"}
    assert report.jobs["state"] == "running"
    next_update = next(r for r in report.crls if r.ca == "issuing" and not r.delta).next_update
    assert DATE.match(next_update)

    clock.advance(days=3)  # past the complete CRLs' nextUpdate, no jobs round since
    report = build_report(ctx)
    assert not report.ok
    assert any(p.startswith("issuing CRL stale") for p in report.problems)
    assert any(p.startswith("jobs process failed: no round since") for p in report.problems)

    write_heartbeat(ctx, 60, ["CRL publication"])  # a round ran, one of its jobs failed
    assert build_report(ctx).jobs["state"] == "failed: CRL publication"


def test_a_key_the_hsm_cannot_give_is_a_problem(tmp_path):
    ctx = make_home(tmp_path / "home")
    done, _ = _status(ctx.settings.home)
    assert done.code == 0
    (ctx.settings.hsm.softhsm_conf.parent / "tokens").rename(tmp_path / "away")
    done, report = _status(ctx.settings.home, "--json")
    assert done.code == 1
    failed = {role for role, state in report["hsm"].items() if state.startswith("failed")}
    assert failed == {"issuing", "ocsp", "tsa", "seal"}
    assert report["hsm"]["root"] == "offline"  # never logged into outside a ceremony
    assert "Traceback" not in done.err
