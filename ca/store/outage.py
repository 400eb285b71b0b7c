"""Which database failures mean the database is away (a server stopped or restarting, the SQLite
file gone or locked, no connection free) rather than a fault in the code: the fronts answer
those in their protocol as "try again later" (503, OCSP tryLater, TSA systemFailure), and the
next request after the database returns simply succeeds, as the pools reconnect."""

from __future__ import annotations

import sqlite3
import sys

from sqlalchemy.exc import (
    DatabaseError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["database_unavailable"]

# OperationalError: "unable to open database file", "database is locked", a refused or
# dropped connection, a server shutting down (PEP 249: errors "not necessarily under the
# control of the programmer"). InterfaceError: a connection already closed. PoolTimeout: every
# pooled connection busy past the pool's timeout.
_AWAY = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
_RAW_AWAY = (sqlite3.OperationalError, sqlite3.InterfaceError)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says the database cannot be used now."""
    seen = 0
    while exc is not None and seen < 8:  # an error raised while handling one, say
        if isinstance(exc, _AWAY) or isinstance(exc, _RAW_AWAY):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        if type(exc) is DatabaseError:  # SQLite's "file is not a database": a file swapped
            return True
        psycopg = sys.modules.get("psycopg")
        if psycopg is not None and isinstance(exc, psycopg.OperationalError):
            return True
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        seen += 1
    return False
