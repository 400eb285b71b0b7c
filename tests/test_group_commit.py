"""Group commit and the direct write path: rows from concurrent threads share one transaction,
a bad row fails only its own caller, and what the direct path stores is what the ORM reads."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from conftest import RESIDENT, make_csr
from sqlalchemy import event, func, literal, select
from sqlalchemy.exc import DBAPIError, IntegrityError

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


def _write_then_fail(ctx) -> Certificate:
    """A direct transaction that writes a row and fails before its commit."""
    row = _pending_row()
    with pytest.raises(RuntimeError), ctx.db.direct_transaction() as conn:
        cert_store.insert_pending_many(conn, [row])
        raise RuntimeError("stop before commit")
    return row


def _stored(ctx, serial: str) -> Certificate | None:
    with ctx.db.reading() as s:
        return s.get(Certificate, serial)


def test_direct_transaction_rolls_back_on_error(ctx):
    assert _stored(ctx, _write_then_fail(ctx).serial) is None


def test_a_lone_statement_is_written_without_a_transaction_and_fails_cleanly(ctx):
    """Issuance's pending rows go one by one without BEGIN/COMMIT; a duplicate still fails
    with IntegrityError, and the connection left in autocommit gives the next writer a real
    transaction again (its failure leaves nothing)."""
    writer = GroupWriter(ctx.db, cert_store.insert_pending_many, one_statement_each=True)
    row = _pending_row()
    writer.submit(row)
    assert _stored(ctx, row.serial).status == "pending"
    for _ in range(3):  # every pooled connection has now been left in autocommit, or reused
        with pytest.raises(IntegrityError):
            writer.submit(_pending_row(row.serial))
        assert _stored(ctx, _write_then_fail(ctx).serial) is None


def _pending(row: Certificate) -> cert_store.PendingCertificate:
    return cert_store.PendingCertificate(*(getattr(row, f)
                                           for f in cert_store.PendingCertificate._fields))


def test_marking_a_row_that_is_not_pending_fails_the_whole_write(ctx):
    """A signature for a row that is not pending (a ghost, or one already settled) fails the
    whole group: no row marked, no audit event left behind."""
    pending, ghost = _pending_row(), _pending_row()
    with ctx.db.direct_transaction() as conn:
        cert_store.insert_pending_many(conn, [pending])
    with pytest.raises(RuntimeError, match="not pending"), \
            ctx.db.direct_transaction() as conn:
        cert_store.store_issued(conn, [cert_store.SignedCertificate(_pending(pending), b"der"),
                                       cert_store.SignedCertificate(_pending(ghost), b"der")],
                                _AT)
    with ctx.db.reading() as s:
        assert s.get(Certificate, pending.serial).status == "pending"
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.object.in_([f"certificate:{pending.serial}",
                                   f"certificate:{ghost.serial}"]))) == 0


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


def test_issuance_stores_its_ocsp_response_with_the_certificate(ctx):
    issued = Issuer(ctx).issue(IssuanceRequest("resident-signing", make_csr(),
                                               dict(RESIDENT), "test"))
    with ctx.db.reading() as s:
        row = s.get(Certificate, issued.serial)
        algorithms = s.execute(select(OcspResponse.hash_algorithm)
                               .where(OcspResponse.serial == issued.serial)).scalars().all()
    assert row.status == "issued" and row.issued_at is not None and row.der
    assert algorithms == ["sha1"]  # the pre-signed one (ca.ocsp_signer.PRESIGNED)


def test_direct_and_orm_rows_store_the_same_text_for_whole_seconds(ctx):
    """SQLite keeps datetimes as text: both paths must write one format, or comparisons of the
    column (refresh due, stale pending) go wrong at second boundaries."""
    from sqlalchemy import text

    whole = _AT.replace(microsecond=0)
    via_orm, via_direct = _pending_row(), _pending_row()
    via_orm.not_before = via_direct.not_before = whole
    with ctx.db.transaction() as s:
        s.add(via_orm)
    with ctx.db.direct_transaction() as conn:
        cert_store.insert_pending_many(conn, [via_direct])
    with ctx.db.reading() as s:
        stored = dict(s.execute(text("SELECT serial, not_before FROM certificates WHERE serial "
                                     "IN (:a, :b)"), {"a": via_orm.serial,
                                                      "b": via_direct.serial}).all())
        same_second = s.execute(select(func.count()).select_from(Certificate).where(
            Certificate.serial.in_([via_orm.serial, via_direct.serial]),
            Certificate.not_before == whole)).scalar()
    assert stored[via_orm.serial] == stored[via_direct.serial]
    assert same_second == 2


class _Stop(BaseException):
    """What a worker's shutdown (SystemExit, a timeout) raises mid-write."""


def test_an_interrupted_group_reports_no_row_as_committed(ctx):
    """The group fails, the rows are retried one by one, and the first retry is interrupted:
    no submitter may be told its row is committed."""
    gate = threading.Event()
    calls: list[int] = []

    def write(conn, rows):
        calls.append(len(rows))
        if len(calls) == 1:
            gate.wait(5)  # hold the writer while the other two queue behind it
            cert_store.insert_pending_many(conn, rows)
        elif len(rows) > 1:
            raise ValueError("the group fails")
        else:
            raise _Stop()

    writer = GroupWriter(ctx.db, write)
    rows = [_pending_row() for _ in range(3)]
    outcome: dict[int, object] = {}

    def submit(n):
        try:
            writer.submit(rows[n])
            outcome[n] = "committed"
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
            outcome[n] = exc

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    while not calls:
        threading.Event().wait(0.01)
    others = [threading.Thread(target=submit, args=(n,)) for n in (1, 2)]
    for th in others:
        th.start()
    while len(writer._queue) < 2:
        threading.Event().wait(0.01)
    gate.set()
    for th in [first, *others]:
        th.join(10)
    assert outcome[0] == "committed"
    assert all(isinstance(outcome[n], BaseException) for n in (1, 2))
    with ctx.db.reading() as s:
        assert s.get(Certificate, rows[1].serial) is None
        assert s.get(Certificate, rows[2].serial) is None


def test_a_forked_child_writes_through_the_parents_writer(ctx):
    import multiprocessing

    writer = GroupWriter(ctx.db, cert_store.insert_pending_many)
    parent_row, child_row = _pending_row(), _pending_row()
    writer.submit(parent_row)
    child = multiprocessing.get_context("fork").Process(target=writer.submit, args=(child_row,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    with ctx.db.reading() as s:
        assert s.get(Certificate, parent_row.serial) and s.get(Certificate, child_row.serial)


def test_issuance_survives_the_server_dropping_its_connections(ctx):
    """The write path pings no connection before use: when the server has dropped them all
    (a restart, a failover), the transaction lost with one is tried again on a fresh one."""
    if ctx.db.dialect != "postgresql":
        pytest.skip("SQLite has no server to drop connections")
    issuer = Issuer(ctx)
    issuer.issue(IssuanceRequest("resident-signing", make_csr(), dict(RESIDENT), "test"))
    admin = ctx.db._engine.raw_connection()
    try:
        admin.cursor().execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        admin.commit()
    finally:
        admin.close()
    done = issuer.issue(IssuanceRequest("resident-signing", make_csr(), dict(RESIDENT), "test"))
    with ctx.db.reading() as s:
        assert cert_store.get(s, done.serial).status == "issued"
        assert verify_chain(s)[1] == []


def test_wal_checkpoints_run_on_a_thread_of_their_own(ctx):
    """A passive checkpoint (every 64 direct commits of a process) takes milliseconds of I/O:
    it runs on the checkpointer's thread, never on the thread whose commit made it due, which
    returns to its caller (and, in a group commit, lets the others commit) at once."""
    if ctx.db.dialect != "sqlite":
        pytest.skip("a SQLite WAL matter")
    ran: list[str] = []

    def trace(dbapi, _record):
        dbapi.set_trace_callback(lambda sql: ran.append(threading.current_thread().name)
                                 if "wal_checkpoint" in sql else None)

    engine = ctx.db._direct_engine
    ctx.db.dispose()  # every connection from here on is traced
    event.listen(engine, "connect", trace)
    try:
        for _ in range(64):
            with ctx.db.direct_transaction() as conn:
                cert_store.insert_pending_many(conn, [_pending_row()])
        deadline = time.monotonic() + 10
        while not ran and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        event.remove(engine, "connect", trace)
    assert ran and threading.current_thread().name not in ran
    assert all(name.startswith("wal-checkpoint") for name in ran)


def test_closing_the_database_closes_the_direct_readers_it_lent(ctx):
    """``Database.close`` (the command line's end) closes every connection of the process, the
    direct readers' too, which are out of the pools; the store opens afresh afterwards."""
    reader = ctx.db.direct_reader()
    assert reader.first(select(literal(1)), {}) == (1,)
    ctx.db.close()
    with pytest.raises(DBAPIError):
        reader.first(select(literal(1)), {})
    with ctx.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Certificate)) >= 0
