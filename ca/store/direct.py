"""Statements straight on the DB-API connection, for the store's hot paths (issuance and the
TSA's writes, the OCSP responder's reads). Internal to ``ca/store``: callers use the store's
named functions and writers (``certificates.IssuanceWriter``, ``timestamps.TokenWriter``).

Measured on SQLite here: a transaction holding one statement costs about 150 µs through
SQLAlchemy Core and 6 µs on the sqlite3 connection, and issuance writes twice per certificate.
The statements stay SQLAlchemy Core constructs: each is compiled once per dialect and its
parameters go through the column types' own bind processors, so a row written here is the row
the ORM would have written (UtcDateTime included).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

__all__ = ["DirectConnection", "DirectReader", "ThreadReader", "translated_errors"]


class _Compiled:
    """One statement compiled for one dialect: its SQL, parameter order and converters."""

    def __init__(self, statement: ClauseElement, dialect: Dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.names = (list(compiled.positiontup) if compiled.positional
                      else list(compiled.binds))
        self.positional = compiled.positional
        # per parameter: its name and the value fixed in the statement itself
        # (``.values(status="issued")``), else None
        self._fixed: list[tuple[str, Any]] = []
        # (position, converter): the dialect's own implementation (SQLite's DATETIME text
        # format, say), as the ORM would use it
        self._converters: list[tuple[int, Any]] = []
        for i, name in enumerate(self.names):
            bind = compiled.binds[name]
            self._fixed.append((name, bind.effective_value if bind.value is not None else None))
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self._converters.append((i, processor))

    def parameters(self, given: dict[str, Any]):
        values = [given.get(name, fixed) for name, fixed in self._fixed]
        for i, convert in self._converters:
            values[i] = convert(values[i])
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))


class DirectConnection:
    """A DB-API connection in a transaction, executing Core statements compiled once.

    Statements may run later than ``execute`` returns: with a psycopg ``pipeline`` they are
    sent without waiting for each answer; given ``begin``, they are held back until a result
    is read or the transaction commits, and ``begin`` is called before the first runs (SQLite:
    the write lock is then taken with every parameter already converted). Either way a
    statement's error is raised where its outcome is first read, or at the COMMIT.
    A psycopg transaction of six statements costs three round trips instead of eight.
    """

    def __init__(self, dbapi_connection, dialect: Dialect, cache: dict, pipeline=None,
                 begin=None):
        self.dialect = dialect
        self._dbapi = dbapi_connection
        self._cache = cache  # statement -> _Compiled, shared by every transaction of the engine
        self._pipeline = pipeline
        self._begin = begin  # None once begun
        self._held: list[tuple[Any, str, Any, bool]] = []

    def execute(self, statement: ClauseElement, parameters: dict | list[dict] | None = None):
        """Run ``statement`` once, or once per dict of a list (DB-API executemany)."""
        compiled = self._cache.get(statement)
        if compiled is None:
            compiled = self._cache[statement] = _Compiled(statement, self.dialect)
        if isinstance(parameters, list) and len(parameters) == 1:
            parameters = parameters[0]
        many = isinstance(parameters, list)
        with translated_errors(self.dialect, compiled.sql):
            values = ([compiled.parameters(p) for p in parameters] if many
                      else compiled.parameters(parameters or {}))
        cursor = self._dbapi.cursor()
        if self._begin is not None:
            self._held.append((cursor, compiled.sql, values, many))
        else:
            _run(self.dialect, cursor, compiled.sql, values, many)
        return _Result(self, cursor, compiled.sql)

    def flush(self) -> None:
        """Begin, if not yet, and run the statements held back, in order."""
        if self._begin is not None:
            begin, self._begin = self._begin, None
            begin()
        held, self._held = self._held, []
        for cursor, sql, values, many in held:
            _run(self.dialect, cursor, sql, values, many)


class DirectReader:
    """A pooled DB-API connection in autocommit, running Core selects compiled once.

    Through the ORM a cached OCSP answer spent 80% of its time in SQLAlchemy (about 0.2 ms of
    0.26 ms, measured in-process); a compiled statement on the DB-API connection costs tens of
    microseconds. Values come back as the driver gives them (SQLite: datetimes as text).
    """

    def __init__(self, pooled, dialect: Dialect, cache: dict):
        self.dialect = dialect
        self._pooled, self._dbapi, self._cache = pooled, pooled.driver_connection, cache
        # Dropped without ``discard`` (its thread ended, its holder was collected), the
        # connection would go back to the pool in autocommit: close it instead.
        weakref.finalize(self, _invalidate, pooled)

    def first(self, statement: ClauseElement, parameters: dict) -> tuple | None:
        """The first row of ``statement``, or None; a DB-API error is raised as SQLAlchemy's."""
        return self._fetch(statement, parameters, lambda cursor: cursor.fetchone())

    def all(self, statement: ClauseElement, parameters: dict) -> list[tuple]:
        """Every row of ``statement``."""
        return self._fetch(statement, parameters, lambda cursor: cursor.fetchall())

    def _fetch(self, statement: ClauseElement, parameters: dict, rows: Callable):
        compiled = self._cache.get(statement)
        if compiled is None:
            compiled = self._cache[statement] = _Compiled(statement, self.dialect)
        with translated_errors(self.dialect, compiled.sql):
            cursor = self._dbapi.cursor()
            try:
                cursor.execute(compiled.sql, compiled.parameters(parameters))
                return rows(cursor)
            finally:
                cursor.close()

    def discard(self) -> None:
        """Drop the connection for good: back in the pool it would still be in autocommit, and
        a writer taking it would commit statement by statement."""
        _invalidate(self._pooled)


def _invalidate(pooled) -> None:
    if not pooled.is_valid or pooled.dbapi_connection is None:
        return  # already invalidated or closed (the server dropped it, say)
    with contextlib.suppress(Exception):
        pooled.invalidate()


class ThreadReader:
    """A ``DirectReader`` kept per thread and per process (a forked worker takes its own),
    for hot indexed reads; a read that fails is tried once more on a fresh connection."""

    def __init__(self, db):
        """``db``: the ``Database`` whose read pool lends the connections."""
        self._db = db
        self._local = threading.local()

    def _reader(self) -> DirectReader:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.reader, local.pid = self._db.direct_reader(), os.getpid()
        return local.reader

    def first(self, statement: ClauseElement, parameters: dict) -> tuple | None:
        return self._retried(DirectReader.first, statement, parameters)

    def all(self, statement: ClauseElement, parameters: dict) -> list[tuple]:
        return self._retried(DirectReader.all, statement, parameters)

    def _retried(self, read, statement, parameters):
        for attempt in (0, 1):
            try:
                return read(self._reader(), statement, parameters)
            except Exception:
                self._discard()  # a broken connection: take a fresh one once
                if attempt:
                    raise
        return None

    def _discard(self) -> None:
        local = self._local
        if getattr(local, "pid", None) == os.getpid():
            local.reader.discard()
        local.pid = None


def _run(dialect: Dialect, cursor, sql: str, values, many: bool) -> None:
    with translated_errors(dialect, sql):
        if many:
            cursor.executemany(sql, values)
        else:
            cursor.execute(sql, values)


class translated_errors:  # noqa: N801 - used as a function: ``with translated_errors(...)``
    """DB-API errors raised as SQLAlchemy's (IntegrityError, OperationalError...), so callers
    handle one family of exceptions whichever path wrote.

    A class rather than a ``contextlib.contextmanager``: a certificate's writes enter it about
    twenty times, and a generator-based one cost several times as much each time."""

    __slots__ = ("_dialect", "_sql")

    def __init__(self, dialect: Dialect, sql: str):
        self._dialect, self._sql = dialect, sql

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None:
            return False
        dbapi_error = self._dialect.loaded_dbapi.Error
        if isinstance(exc, dbapi_error):
            raise DBAPIError.instance(self._sql, None, exc, dbapi_error) from exc
        return False


class _Result:
    """The part of SQLAlchemy's result the store's write path uses. The statement's outcome
    (and any error it met) is known only once its connection has run it and, in a psycopg
    pipeline, once its result has come back."""

    def __init__(self, conn: DirectConnection, cursor, sql: str):
        self._conn, self._cursor, self._sql = conn, cursor, sql

    @property
    def rowcount(self) -> int:
        with translated_errors(self._conn.dialect, self._sql):
            self._conn.flush()
            pipeline = self._conn._pipeline
            if pipeline is not None and self._cursor.pgresult is None:
                pipeline.sync()  # its result has not come back yet
            return self._cursor.rowcount

    def one(self) -> tuple:
        with translated_errors(self._conn.dialect, self._sql):
            self._conn.flush()
            rows = self._cursor.fetchall()  # in a pipeline, fetching waits for the result
        if len(rows) != 1:
            raise LookupError(f"expected one row, got {len(rows)}")
        return tuple(rows[0])
