"""Group commit and the direct write path: rows from concurrent threads share one transaction,
a bad row fails only its own caller, and what the direct path stores is what the ORM reads."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from conftest import RESIDENT, make_csr
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ca.audit import Event
from ca.issuance import IssuanceRequest, Issuer
from ca.serials import new_serial, serial_hex
from ca.store import audit as audit_store
from ca.store import certificates as cert_store
from ca.store.audit import verify_chain
from ca.store.groupcommit import GroupWriter
from ca.store.models import AuditEvent, Certificate, OcspResponse

pytestmark = pytest.mark.hsm

_AT = dt.datetime(2026, 12, 1, 10, 30, 15, 123456, tzinfo=dt.timezone.utc)


def _pending_row(serial: str | None = None) -> Certificate:
    return Certificate(serial=serial or serial_hex(new_serial()), issuer="issuing",
                       profile="resident-signing", status="pending", subject="CN=Test",
                       organization_teryt=None, requested_by="test", not_before=_AT,
                       not_after=_AT + dt.timedelta(days=1), tbs=b"\x30\x00", created_at=_AT)


def test_direct_rows_read_back_through_the_orm(ctx):
    row = _pending_row()
    with ctx.db.direct_transaction() as conn:
        cert_store.insert_pending_many(conn, [row])
    with ctx.db.reading() as s:
        stored = s.get(Certificate, row.serial)
    assert stored.status == "pending" and stored.tbs == b"\x30\x00"
    assert stored.not_before == _AT and stored.not_before.tzinfo is not None
    assert stored.created_at == _AT and stored.der is None


def test_direct_transaction_rolls_back_on_error(ctx):
    row = _pending_row()
    with pytest.raises(RuntimeError), ctx.db.direct_transaction() as conn:
        cert_store.insert_pending_many(conn, [row])
        raise RuntimeError("stop")
    with ctx.db.reading() as s:
        assert s.get(Certificate, row.serial) is None


def test_marking_a_row_that_is_not_pending_fails_the_whole_write(ctx):
    pending, ghost = _pending_row(), serial_hex(new_serial())
    with ctx.db.direct_transaction() as conn:
        cert_store.insert_pending_many(conn, [pending])
    with pytest.raises(RuntimeError, match="not pending"), \
            ctx.db.direct_transaction() as conn:
        cert_store.mark_issued_many(conn, [(pending.serial, b"der", _AT), (ghost, b"der", _AT)])
    with ctx.db.reading() as s:
        assert s.get(Certificate, pending.serial).status == "pending"


def test_one_group_of_audit_events_keeps_the_chain(ctx):
    events = [Event(actor="test", action="group.test", object=f"thing:{n}") for n in range(5)]
    with ctx.db.direct_transaction() as conn:
        last = audit_store.append_many(conn, [(_AT, e) for e in events])
    with ctx.db.reading() as s:
        assert s.scalar(select(func.max(AuditEvent.seq))) == last
        _count, problems = verify_chain(s)
    assert problems == []


def test_concurrent_threads_share_transactions_and_a_bad_row_fails_alone(ctx):
    """Eight threads submit at once while the writer is slow: fewer transactions than rows,
    every good row stored, and the duplicate's IntegrityError reaches only its submitter."""
    existing = _pending_row()
    with ctx.db.direct_transaction() as conn:
        cert_store.insert_pending_many(conn, [existing])
    groups: list[int] = []
    gate = threading.Event()

    def write(conn, rows):
        groups.append(len(rows))
        gate.wait(5)  # the first group holds the writer until every thread has queued
        cert_store.insert_pending_many(conn, rows)

    writer = GroupWriter(ctx.db, write)
    rows = [_pending_row() for _ in range(7)] + [_pending_row(existing.serial)]
    errors: dict[int, BaseException] = {}

    def submit(n):
        try:
            writer.submit(rows[n])
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
            errors[n] = exc

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(len(rows))]
    for th in threads:
        th.start()
    while len(writer._queue) < len(rows) - 1:  # one leads, the rest wait behind it
        threading.Event().wait(0.01)
    gate.set()
    for th in threads:
        th.join(10)
    assert list(errors) == [7] and isinstance(errors[7], IntegrityError)
    assert groups[0] == 1 and groups[1] == 7  # the waiting rows went in one transaction
    with ctx.db.reading() as s:
        stored = s.execute(select(Certificate.serial).where(
            Certificate.serial.in_([r.serial for r in rows[:7]]))).scalars().all()
    assert len(stored) == 7


def test_issuance_stores_its_ocsp_responses_with_the_certificate(ctx):
    issued = Issuer(ctx).issue(IssuanceRequest("resident-signing", make_csr(),
                                               dict(RESIDENT), "test"))
    with ctx.db.reading() as s:
        row = s.get(Certificate, issued.serial)
        algorithms = s.execute(select(OcspResponse.hash_algorithm)
                               .where(OcspResponse.serial == issued.serial)).scalars().all()
    assert row.status == "issued" and row.issued_at is not None and row.der
    assert sorted(algorithms) == ["sha1", "sha256"]
