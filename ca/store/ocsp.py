"""Pre-signed OCSP responses: the responder's cache, kept in the store (DESIGN.md, "OCSP and
CRL at scale")."""

from __future__ import annotations

import datetime as dt
import functools
import importlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import bindparam, delete, func, or_, select

from ca.store import tables
from ca.store.db import Database, connection_of
from ca.store.direct import ThreadReader

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["ResponseRow", "cached", "save", "invalidate", "serials_to_refresh", "status_rows",
           "presigned_until", "FastReader", "responses_since", "revoked_since"]

_TABLE, _CERTS = tables.ocsp_responses, tables.certificates
# The columns a response is made from; tuples keep bulk refresh light.
_STATUS_COLUMNS = (_CERTS.c.serial, _CERTS.c.issuer, _CERTS.c.status,
                   _CERTS.c.revoked_at, _CERTS.c.revocation_reason)


class ResponseRow(NamedTuple):
    """A signed response on its way to the store: the table's columns, without ORM state
    (issuance makes one per certificate)."""

    serial: str
    hash_algorithm: str
    issuer: str
    der: bytes
    this_update: dt.datetime
    next_update: dt.datetime


def cached(session: Session, serial: str, hash_algorithm: str):
    """``(der, this_update, next_update)`` of the stored response, or None."""
    return session.execute(
        select(_TABLE.c.der, _TABLE.c.this_update, _TABLE.c.next_update)
        .where(_TABLE.c.serial == serial, _TABLE.c.hash_algorithm == hash_algorithm)
    ).first()


_DELETE_ONE = _TABLE.delete().where(_TABLE.c.serial == bindparam("p_serial"),
                                    _TABLE.c.hash_algorithm == bindparam("p_alg"))
# Where each dialect's INSERT ... ON CONFLICT lives, imported on first use: the PostgreSQL
# package loads every PostgreSQL driver's module (asyncio with them), a tenth of a second of
# `regca issue` on a SQLite home, which never needs it.
_UPSERTS = {"sqlite": "sqlalchemy.dialects.sqlite", "postgresql": "sqlalchemy.dialects.postgresql"}


@functools.cache
def _upsert(dialect: str):
    """INSERT ... ON CONFLICT DO UPDATE on the (serial, hash) key, built once per dialect:
    building it costs more than running it."""
    stmt = importlib.import_module(_UPSERTS[dialect]).insert(_TABLE)
    return stmt.on_conflict_do_update(
        index_elements=["serial", "hash_algorithm"],
        set_={c: stmt.excluded[c] for c in ("issuer", "der", "this_update", "next_update")})


def save(session, rows: Iterable[ResponseRow]) -> None:
    """Insert or replace responses (one per serial and hash algorithm), in one statement."""
    values = [r._asdict() for r in rows]
    if not values:
        return
    conn = connection_of(session)
    dialect = conn.dialect.name
    if dialect not in _UPSERTS:  # another backend: the portable, slower way
        for v in values:
            conn.execute(_DELETE_ONE, {"p_serial": v["serial"], "p_alg": v["hash_algorithm"]})
        conn.execute(_TABLE.insert(), values)
        return
    conn.execute(_upsert(dialect), values)


def invalidate(session: Session, serial: str) -> None:
    session.execute(delete(_TABLE).where(_TABLE.c.serial == serial))


def status_rows(session: Session, serials: Iterable[str], for_update: bool = False,
                ) -> list[tuple]:
    """The status columns ``(serial, issuer, status, revoked_at, reason)`` of the given
    certificates; ``for_update`` locks them against a concurrent revocation."""
    q = select(*_STATUS_COLUMNS).where(_CERTS.c.serial.in_(list(serials)))
    if for_update:
        q = q.with_for_update()
    return [tuple(r) for r in session.execute(q)]


def serials_to_refresh(session: Session, hash_algorithm: str, before: dt.datetime,
                       issuer: str | None = None, batch: int = 1000, missing: bool = True,
                       signed_before: dt.datetime | None = None) -> Iterator[list[tuple]]:
    """Status rows of settled certificates whose response for ``hash_algorithm`` expires
    before ``before``, or was signed (thisUpdate) before ``signed_before`` (by a responder key
    rolled over since), or, with ``missing``, does not exist, in batches (keyset pagination by
    serial)."""
    last = ""
    joined = (_TABLE.c.serial == _CERTS.c.serial) & (
        _TABLE.c.hash_algorithm == hash_algorithm)
    due = _TABLE.c.next_update < before
    if signed_before is not None:
        due = or_(due, _TABLE.c.this_update < signed_before)
    while True:
        q = select(*_STATUS_COLUMNS)
        q = (q.outerjoin(_TABLE, joined).where(or_(_TABLE.c.serial.is_(None), due))
             if missing else q.join(_TABLE, joined).where(due))
        q = (q.where(_CERTS.c.status != "pending", _CERTS.c.serial > last)
             .order_by(_CERTS.c.serial).limit(batch))
        if issuer is not None:
            q = q.where(_CERTS.c.issuer == issuer)
        rows = [tuple(r) for r in session.execute(q)]
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def presigned_until(session: Session, issuer: str, hash_algorithms: Iterable[str]
                    ) -> tuple[int, dt.datetime | None]:
    """How long ``issuer``'s pre-signed responses last: ``(missing, earliest nextUpdate)``,
    where ``missing`` counts settled certificates without a response for one of
    ``hash_algorithms`` (what the offline root must sign at its next ceremony)."""
    missing, earliest = 0, None
    for alg in hash_algorithms:
        joined = (_TABLE.c.serial == _CERTS.c.serial) & (_TABLE.c.hash_algorithm == alg)
        settled = (_CERTS.c.issuer == issuer) & (_CERTS.c.status != "pending")
        missing += session.execute(
            select(func.count()).select_from(_CERTS).outerjoin(_TABLE, joined)
            .where(settled, _TABLE.c.serial.is_(None))).scalar_one()
        first = _utc(session.execute(
            select(func.min(_TABLE.c.next_update)).select_from(_CERTS)
            .join(_TABLE, joined).where(settled)).scalar_one())
        if first is not None and (earliest is None or first < earliest):
            earliest = first
    return missing, earliest


def responses_since(session: Session, since: dt.datetime | None, valid_at: dt.datetime,
                    batch: int = 1000) -> Iterator[list[ResponseRow]]:
    """Responses signed at or after ``since`` (every one, with None) still valid at
    ``valid_at``, in batches (keyset pagination by serial and hash): what a node's mirror
    copies (ca/ocsp_mirror.py)."""
    last = ("", "")
    while True:
        q = (select(_TABLE.c.serial, _TABLE.c.hash_algorithm, _TABLE.c.issuer, _TABLE.c.der,
                    _TABLE.c.this_update, _TABLE.c.next_update)
             .where(_TABLE.c.next_update > valid_at,
                    or_(_TABLE.c.serial > last[0],
                        (_TABLE.c.serial == last[0]) & (_TABLE.c.hash_algorithm > last[1])))
             .order_by(_TABLE.c.serial, _TABLE.c.hash_algorithm).limit(batch))
        if since is not None:
            q = q.where(_TABLE.c.this_update >= since)
        rows = [ResponseRow(r[0], r[1], r[2], bytes(r[3]), _utc(r[4]), _utc(r[5]))
                for r in session.execute(q)]
        if not rows:
            return
        yield rows
        last = (rows[-1].serial, rows[-1].hash_algorithm)


def revoked_since(session: Session, since: dt.datetime) -> list[str]:
    """Serials of the certificates revoked at or after ``since``."""
    return list(session.execute(select(_CERTS.c.serial).where(
        _CERTS.c.status == "revoked", _CERTS.c.revoked_at >= since)).scalars())


_RESPONSE = (select(_TABLE.c.der, _TABLE.c.this_update, _TABLE.c.next_update)
             .where(_TABLE.c.serial == bindparam("p_serial"),
                    _TABLE.c.hash_algorithm == bindparam("p_alg")))
_STATUS = select(*_STATUS_COLUMNS).where(_CERTS.c.serial == bindparam("p_serial"))


class FastReader:
    """The responder's hot path: two indexed reads on a DB-API connection kept per thread
    (``Database.direct_reader``), in autocommit, so every read sees the newest committed
    response (a revocation replaces it at once)."""

    def __init__(self, db: Database):
        self._db = db
        self._one = ThreadReader(db).first

    def response(self, serial: str, hash_algorithm: str):
        """``(der, this_update, next_update)`` or None."""
        row = self._one(_RESPONSE, {"p_serial": serial, "p_alg": hash_algorithm})
        if row is None:
            return None
        return bytes(row[0]), _utc(row[1]), _utc(row[2])

    def status(self, serial: str) -> tuple | None:
        """``(serial, issuer, status, revoked_at, reason)`` as ``status_rows`` gives it."""
        row = self._one(_STATUS, {"p_serial": serial})
        if row is None:
            return None
        return (row[0], row[1], row[2], _utc(row[3]), row[4])


def _utc(value) -> dt.datetime | None:
    """SQLite hands back the text UtcDateTime stored (naive UTC); PostgreSQL aware values."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)
