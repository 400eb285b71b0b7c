"""PostgreSQL snapshots through the server's own tools: ``pg_dump`` (one consistent
REPEATABLE READ transaction) and ``pg_restore`` (one transaction, all or nothing).

SQLite's snapshot is the online backup API, in ``Database.snapshot`` (ca/store/db.py), which owns
the engines. The password travels in the environment (PGPASSWORD), never on a command line that
``ps`` shows.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from ca.errors import ConfigurationError, RegCAError

__all__ = ["pg_dump", "pg_restore"]


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The libpq form of a SQLAlchemy URL (no driver suffix, no password) and its environment."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise ConfigurationError(f"{cmd[0]} not found (install Debian's postgresql-client "
                                 "of the server's major version)") from None
    if done.returncode != 0:
        reason = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise RegCAError(f"{what} failed: {reason[-1] if reason else done.returncode}")


def pg_dump(url: str, dest: Path) -> None:
    """A custom-format dump of the database at ``url`` (schema and data) into ``dest``."""
    target, env = _libpq(url)
    _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dest}",
          f"--dbname={target}"], env, "pg_dump")


def pg_restore(url: str, src: Path) -> None:
    """Load a ``pg_dump`` file into the (empty) database at ``url`` in one transaction: on any
    error nothing of it stays."""
    target, env = _libpq(url)
    _run(["pg_restore", "--single-transaction", "--exit-on-error", "--no-owner",
          "--no-privileges", f"--dbname={target}", str(src)], env, "pg_restore")
