"""The audit chain: `regca audit verify` finds an edited, deleted or reordered row."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import make_home, run_cli
from sqlalchemy import select, text, update

from ca.audit import Event, canonical
from ca.store.models import AuditEvent

pytestmark = pytest.mark.hsm


@pytest.fixture
def fresh(tmp_path):
    """A home of its own: these tests damage the log on purpose."""
    return make_home(tmp_path / "home", demo=True)


def _verify(ctx):
    return run_cli(ctx.settings.home, "audit", "verify")


def test_intact_log_verifies_and_covers_init_events(fresh):
    r = _verify(fresh)
    assert r.code == 0, r.err
    with fresh.db.reading() as s:
        actions = set(s.execute(select(AuditEvent.action)).scalars())
    assert {"key.generate", "certificate.issue", "organization.add", "user.create",
            "pki.init"} <= actions


def test_edited_row_is_named(fresh):
    with fresh.db.transaction() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 5).values(actor="mallory"))
    r = _verify(fresh)
    assert r.code == 1
    assert "audit row 5: content does not match its hash: edited" in r.err


def test_deleted_row_is_named(fresh):
    with fresh.db.transaction() as s:
        s.execute(text("DELETE FROM audit_events WHERE seq = 7"))
    r = _verify(fresh)
    assert r.code == 1 and "audit row 7: missing" in r.err


def test_deleted_newest_rows_are_found(fresh):
    with fresh.db.transaction() as s:
        last = s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
        s.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": last})
    r = _verify(fresh)
    assert r.code == 1 and "newest rows were deleted" in r.err


def test_reordered_rows_are_found(fresh):
    with fresh.db.transaction() as s:
        s.execute(text("UPDATE audit_events SET seq = -1 WHERE seq = 3"))
        s.execute(text("UPDATE audit_events SET seq = 3 WHERE seq = 4"))
        s.execute(text("UPDATE audit_events SET seq = 4 WHERE seq = -1"))
    r = _verify(fresh)
    assert r.code == 1 and "audit row 3" in r.err


def test_the_hashed_text_is_the_whole_row_as_sorted_json():
    """Rows already chained must keep verifying: ``canonical`` (prepared without its sequence
    number before the head's lock, then closed with it) is byte for byte the JSON of the whole
    row with sorted keys."""
    at = dt.datetime(2026, 12, 2, 9, 30, 1, 250, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    event = Event(actor="rejestracja ZG", action="certificate.issue", object="certificate:ab12",
                  details={"subject": "CN=Zofia Żółć,C=PL", "profile": "resident-signing"},
                  organization_teryt="0862011")
    whole = json.dumps({
        "seq": 1234, "at": "2026-12-02T08:30:01.000250+00:00", "actor": event.actor,
        "action": event.action, "object": event.object, "outcome": "success",
        "details": event.details, "organization_teryt": "0862011",
    }, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(1234, at, event) == whole
