"""The engine: SQLite (WAL, writers serialised with BEGIN IMMEDIATE) or PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError, SQLAlchemyError

from ca.errors import ConfigurationError
from ca.store.direct import DirectConnection, DirectReader, translated_errors

if TYPE_CHECKING:  # the ORM is loaded on the first session: `regca issue` runs without it
    from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "connection_of"]

MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)


def connection_of(target: Session | Connection | DirectConnection):
    """What Core statements run on, given a session or a connection (direct or not)."""
    orm = sys.modules.get("sqlalchemy.orm")  # not loaded: no session can have been made
    return target.connection() if orm and isinstance(target, orm.Session) else target


class _WriterQueue:
    """The direct writers of one SQLite file, queued in the kernel.

    SQLite's busy handler sleeps between tries (1, 2, 5, 10... ms), so a writer waiting for
    another process's commit loses milliseconds each time; an flock wakes it the moment the lock
    is free. Measured with bench/issue.py (two processes on SQLite): about 17% more certificates
    per second. flock belongs to an open file, so each process opens its own (a forked child
    drops its parent's), and threads of a process queue on a lock of their own first.
    """

    def __init__(self, database: str, engine: Engine):
        self.path = Path(database + ".writers")
        self._file = None
        self._threads = threading.Lock()
        self._commits = 0
        self._checkpoints = _Checkpointer(engine, self.path.stem)
        _queues.add(self)

    def _after_fork(self) -> None:
        if self._file is not None:
            self._file.close()  # the parent's lock stays the parent's
        self._file, self._threads = None, threading.Lock()
        self._checkpoints.after_fork()

    def checkpoint_after(self) -> None:
        """Called after a committed turn: now and then, a passive checkpoint, which waits for
        no one and no one waits for, on the checkpointer's thread."""
        self._commits += 1
        if not self._commits % _CHECKPOINT_EVERY:
            self._checkpoints.request()

    def take(self) -> None:
        """Wait for the writers' turn: this process's threads first, then the other
        processes. ``give_back`` ends it."""
        self._threads.acquire()
        try:
            if self._file is None:
                self._file = open(self.path, "a")  # noqa: SIM115 - kept for the process
            fcntl.flock(self._file, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def give_back(self) -> None:
        try:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        finally:
            self._threads.release()


class _Checkpointer:
    """Passive WAL checkpoints on a thread of their own, off every writer's path.

    A passive checkpoint takes 2 to 10 ms here (mostly the database file's fsync; about 1 ms of
    CPU). Run by the thread that had just committed, it held up that thread's caller and, under
    a group commit (``ca/store/groupcommit.py``), every thread of the process waiting to commit:
    with four TSA threads a worker, about one token in a hundred came back that much later, the
    99th percentile. The thread ends after a while with nothing to do and starts again when a
    checkpoint is due; a forked child starts its own. A failure is only logged: whatever the
    checkpoint would have copied is committed in the WAL, and SQLite's own checkpoint at
    ``_AUTOCHECKPOINT_PAGES`` still bounds it.
    """

    _IDLE_SECONDS = 30.0

    def __init__(self, engine: Engine, name: str):
        self._engine, self._name = engine, name
        self.after_fork()

    def after_fork(self) -> None:
        """Fresh state: a forked child has none of its parent's threads, and maybe a lock the
        parent held at the fork."""
        self._lock = threading.Lock()
        self._due: threading.Event | None = None

    def request(self) -> None:
        with self._lock:
            if self._due is None:
                self._due = threading.Event()
                threading.Thread(target=self._run, args=(self._due,), daemon=True,
                                 name=f"wal-checkpoint {self._name}").start()
            self._due.set()

    def _run(self, due: threading.Event) -> None:
        while True:
            if not due.wait(self._IDLE_SECONDS):
                with self._lock:
                    if due.is_set():
                        continue
                    if self._due is due:
                        self._due = None
                    return
            due.clear()
            try:
                pooled = self._engine.raw_connection()
                try:
                    pooled.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    pooled.close()
            except (sqlite3.Error, SQLAlchemyError) as exc:
                log.warning("WAL checkpoint of %s failed: %s", self._name, exc)


_queues: weakref.WeakSet[_WriterQueue] = weakref.WeakSet()
os.register_at_fork(after_in_child=lambda: [q._after_fork() for q in list(_queues)])


# Checkpoints (copying WAL pages back into the database file, then syncing it) cost about
# 6 µs per page here, and a certificate dirties about twenty pages. Run by SQLite inside a
# COMMIT, they stall every other writer, as the writers' turn is held until the COMMIT returns.
# So a thread of the process checkpoints passively (_Checkpointer), every _CHECKPOINT_EVERY
# commits of its direct writers, while they write. Such a checkpoint rarely catches up with
# another busy process, and the WAL restarts only once it has; SQLite's automatic checkpoint,
# set further out, finishes the job inside a COMMIT, with only the last pages left to copy.
_CHECKPOINT_EVERY = 64
_AUTOCHECKPOINT_PAGES = 5000  # the WAL file grows to about 20 MiB


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    connect_args = {"timeout": 30, "check_same_thread": False}
    path = make_url(url).database
    on_disk = bool(path) and path != ":memory:" and not path.startswith("file:")
    if on_disk and Path(path).exists():
        # A database that exists must go on existing: should its file vanish, SQLite would
        # make an empty one under its name, whose "no such table" no request can recover from
        # and which the real file, put back, would have to displace.
        uri = f"file:{quote(os.path.abspath(path))}?mode=rw"
        engine = create_engine(url, creator=lambda: sqlite3.connect(uri, uri=True,
                                                                    **connect_args))
    else:
        engine = create_engine(url, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, record):
        if on_disk:
            record.info["file"] = _file_id(path)
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    if on_disk:
        @event.listens_for(engine, "checkout")
        def _on_checkout(_dbapi_connection, record, _proxy):
            # A connection keeps the file it opened, moved, deleted or replaced since: it would
            # read and write a database that is no longer this one. The pool drops it and opens
            # the path again, which fails while the file is away (one stat, about 1 µs).
            if record.info.get("file") != _file_id(path):
                raise DisconnectionError(f"{path} is no longer the file this connection opened")

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A transaction reads the audit head and then writes it: take the write lock up front
        # so two writers never deadlock upgrading a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _pipeline(dbapi):
    """psycopg's pipeline mode (``DirectConnection``); other drivers have none."""
    start = getattr(dbapi, "pipeline", None)
    return start() if start is not None else contextlib.nullcontext()


@contextlib.contextmanager
def _server_transaction(dbapi, dialect, one_statement: bool):
    """BEGIN ... COMMIT around the body, in a pipeline where the driver has one, or nothing
    around a lone statement (autocommit). Yields the pipeline."""
    if dbapi.autocommit != one_statement:
        dbapi.autocommit = one_statement  # whatever the pool handed out
    if one_statement:
        yield None
        return
    with translated_errors(dialect, "COMMIT"), _pipeline(dbapi) as pipeline:
        yield pipeline
        dbapi.commit()


def _refuse_commit(_session) -> None:
    raise ConfigurationError("a read-only view of the store commits nothing")


class Database:
    """The store's one handle: ``transaction()`` and ``reading()`` give a session for the
    functions of ``ca/store/*``; the engines stay inside (nothing outside the store writes SQL,
    tests/test_store_api.py)."""

    def __init__(self, url: str):
        self.url = url
        try:
            if url.startswith("sqlite"):
                self._engine = _sqlite_engine(url, immediate=True)
                self._read_engine = _sqlite_engine(url, immediate=False)
                self._direct_engine = self._engine
            else:
                self._engine = create_engine(url, pool_pre_ping=True, pool_size=10,
                                             max_overflow=20)
                self._read_engine = self._engine
                # The hot write path pings no connection before use (a round trip per
                # transaction, a sixth of an issuance on PostgreSQL): a dropped one fails its
                # transaction, which the server rolled back, and the pool is renewed.
                self._direct_engine = create_engine(url, pool_size=5, max_overflow=10)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise ConfigurationError(f"database_url: {exc}") from None
        self._compiled: dict = {}  # Core statement -> its compiled form, for direct_transaction
        # the direct readers lent out (``direct_reader``), each holding a connection of its own
        self._readers: weakref.WeakSet[DirectReader] = weakref.WeakSet()
        database = self._engine.url.database
        self._writers = (_WriterQueue(database, self._direct_engine)
                         if self.dialect == "sqlite" and database and database != ":memory:"
                         else None)
        self._pid = os.getpid()

    @cached_property
    def _sessions(self) -> sessionmaker:
        from sqlalchemy.orm import sessionmaker
        return sessionmaker(self._engine, expire_on_commit=False)

    @cached_property
    def _read_sessions(self) -> sessionmaker:
        from sqlalchemy.orm import sessionmaker
        return sessionmaker(self._read_engine, expire_on_commit=False)

    @property
    def files(self) -> list[Path]:
        """The files a SQLite database keeps (itself, its journal, WAL and index, the writers'
        lock); none for a server database."""
        database = self._engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return []
        return [Path(database + suffix)
                for suffix in ("", "-wal", "-shm", "-journal", ".writers")]

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def dispose(self) -> None:
        """Close every pooled connection (a test home's end, a benchmark's worker)."""
        for engine in {self._engine, self._read_engine, self._direct_engine}:
            engine.dispose()

    def close(self) -> None:
        """Close every connection of this process, the direct readers' included, once it is
        done with the store (the command line's end). On SQLite, the file's last connection to
        close (no other process holding it open) checkpoints the write-ahead log into the
        database and syncs both: what was committed with ``synchronous=NORMAL``, which syncs
        the log at checkpoints and not at each COMMIT, then survives a power loss too."""
        self._after_fork()
        for reader in list(self._readers):
            reader.discard()
        self.dispose()

    def _after_fork(self) -> None:
        if self._pid != os.getpid():  # never share pooled connections across a fork
            self._engine.dispose(close=False)
            self._read_engine.dispose(close=False)
            self._direct_engine.dispose(close=False)
            self._readers = weakref.WeakSet()  # the parent's, on the parent's connections
            self._pid = os.getpid()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work, committed at the end or rolled back on any exception."""
        self._after_fork()
        with self._sessions() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def direct_transaction(self, one_statement: bool = False) -> Iterator[DirectConnection]:
        """A write transaction on a pooled DB-API connection, for hot paths that run Core
        statements only (``ca/store/direct.py``); committed at the end or rolled back.

        ``one_statement``: the body runs a single statement, atomic by itself, so it is sent
        without BEGIN and COMMIT; on PostgreSQL that is one round trip in autocommit instead of
        a pipeline's (measured here: a quarter of the client's CPU time, 50 µs against 180).

        A transaction lost with its connection raises a DBAPIError whose
        ``connection_invalidated`` is true: nothing of it was committed, unless the connection
        dropped during the COMMIT itself.
        """
        self._after_fork()
        dialect = self._direct_engine.dialect
        with translated_errors(dialect, "connect"):  # a server away raises SQLAlchemy's error
            pooled = self._direct_engine.raw_connection()  # before queueing: the turn is to write
        dbapi = pooled.driver_connection
        try:
            with contextlib.ExitStack() as held:  # the writers' turn, once taken
                try:
                    if dialect.name == "sqlite":
                        conn = DirectConnection(dbapi, dialect, self._compiled, begin=partial(
                            self._begin_sqlite, held, dbapi, dialect, one_statement))
                        yield conn
                        conn.flush()
                        if not one_statement:
                            with translated_errors(dialect, "COMMIT"):
                                dbapi.execute("COMMIT")
                    else:
                        with _server_transaction(dbapi, dialect, one_statement) as pipeline:
                            yield DirectConnection(dbapi, dialect, self._compiled, pipeline)
                except BaseException as exc:
                    orig = getattr(exc, "orig", None)
                    if orig is not None and dialect.is_disconnect(orig, dbapi, None):
                        pooled.invalidate()  # the server went away: never hand this one out
                        self._direct_engine.dispose()  # nor the others it had
                        exc.connection_invalidated = True
                    else:
                        with contextlib.suppress(Exception):
                            dbapi.rollback()
                    raise
            if self._writers:
                self._writers.checkpoint_after()
        finally:
            pooled.close()

    def _begin_sqlite(self, held: contextlib.ExitStack, dbapi, dialect,
                      one_statement: bool) -> None:
        """Called when the first statement is about to run, its parameters ready: take the
        writers' turn, then SQLite's write lock (BEGIN IMMEDIATE, as every write transaction
        here), so both are held while SQLite works and not while Python prepares."""
        if self._writers:
            self._writers.take()  # a callback, not a context manager: two per certificate
            held.callback(self._writers.give_back)
        if not one_statement:
            with translated_errors(dialect, "BEGIN"):
                dbapi.execute("BEGIN IMMEDIATE")

    def direct_reader(self) -> DirectReader:
        """A connection of the read pool in autocommit, for the OCSP responder's hot reads
        (``ca/store/ocsp.py``): every read sees the newest committed row. Kept by its caller
        across requests; ``DirectReader.discard`` once it failed."""
        self._after_fork()
        dialect = self._read_engine.dialect
        # A server that is away (or dropped the pooled connection) fails here with the
        # driver's error, raised as SQLAlchemy's like every other.
        with translated_errors(dialect, "connect"):
            pooled = self._read_engine.raw_connection()
        if dialect.name != "sqlite":
            try:  # no transaction left open between reads
                with translated_errors(dialect, "SET autocommit"):
                    pooled.driver_connection.autocommit = True
            except Exception:
                pooled.invalidate()
                raise
        reader = DirectReader(pooled, dialect, self._compiled)
        self._readers.add(reader)
        return reader

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        self._after_fork()
        with self._read_sessions() as session:
            yield session

    @contextlib.contextmanager
    def read_only(self) -> Iterator[Session]:
        """A reading session that refuses to commit: what a read-only view hands out."""
        with self.reading() as session:
            event.listen(session, "before_commit", _refuse_commit)
            yield session

    @contextlib.contextmanager
    def reading_connection(self) -> Iterator[Connection]:
        """A Core connection of the read pool, for the store's reads that run without the ORM
        (``regca issue`` loads no ORM: ``certificates.current_der``, ``organizations.find``)."""
        self._after_fork()
        with self._read_engine.connect() as conn:
            yield conn

    def ping(self) -> bool:
        try:
            with self._read_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def compact(self, tables: Sequence[str]) -> bool:
        """Rewrite the database so that values an update replaced (secrets kept in clear before
        they were sealed) are gone from its files, not only unreachable: SQLite rebuilds the
        file from its live rows (VACUUM) and empties the WAL, where earlier page images stay
        until then; PostgreSQL rewrites ``tables`` (VACUUM FULL), leaving no dead row versions.
        False when another process's reader kept SQLite's WAL from being emptied (its pages are
        reused, not erased, until a later checkpoint empties it)."""
        self._after_fork()
        if self.dialect == "sqlite":
            pooled = self._engine.raw_connection()
            try:
                dbapi = pooled.driver_connection
                dbapi.execute("VACUUM")
                busy, _, _ = dbapi.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                pooled.close()
            return not busy
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.exec_driver_sql(f'VACUUM FULL "{table}"')
        return True

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (init and serve only: Alembic and
        the dialects it loads take longer to import than a whole ``regca issue``)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self._engine.connect() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")  # one branch per capability, see migrations/README
                conn.commit()
        except OperationalError as exc:
            raise ConfigurationError(f"database {self.safe_url}: {exc.orig}") from None

    def snapshot(self, dest: Path) -> None:
        """A consistent copy of the whole database in ``dest``, taken while others write:
        SQLite's online backup API (one read transaction), or ``pg_dump`` for PostgreSQL."""
        self._after_fork()
        if self.dialect != "sqlite":
            from ca.store.snapshot import pg_dump
            pg_dump(self.url, dest)
            return
        pooled = self._read_engine.raw_connection()
        try:
            target = sqlite3.connect(dest)
            try:
                pooled.driver_connection.backup(target)
            finally:
                target.close()
        finally:
            pooled.close()

    def table_names(self) -> list[str]:
        """The tables the database holds (none in a database fresh from CREATE DATABASE)."""
        return inspect(self._engine).get_table_names()

    def drop_all_tables(self) -> None:
        """Undo a restore that could not be finished: every table goes, the database is as
        empty as it was found."""
        meta = MetaData()
        meta.reflect(self._engine)
        meta.drop_all(self._engine)
        self.dispose()

    @property
    def safe_url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)
