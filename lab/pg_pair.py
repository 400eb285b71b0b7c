"""A PostgreSQL primary and its streaming standby for the HA lab (lab/ha_lab.py), from Debian's
binaries (/usr/lib/postgresql/*/bin), run as the current user or, when that is root, as the
`postgres` account (the server refuses to run as root): initdb, a synchronous base-backed
standby, promotion, and the old primary's return through pg_rewind."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

__all__ = ["DATABASE", "SERVERS", "PgPair", "pg_bin"]

SERVERS = ("pg1", "pg2")
DATABASE = "regca"


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


class PgPair:
    """Two servers, ``pg1`` and ``pg2``, in ``root``; which is primary changes with the drills,
    and ``primary()`` asks them."""

    def __init__(self, root: Path, ports: dict[str, int]):
        self.root, self.ports = root, ports

    def _pg_dir(self, server: str) -> Path:
        return self.root / server

    def _as_pg(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def _pg_run(self, name: str, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(self._as_pg([pg_bin(name), *args]), capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)}: {done.stderr.strip() or done.stdout}")
        return done.stdout

    def _make_pg_dir(self, server: str) -> Path:
        where = self._pg_dir(server)
        shutil.rmtree(where, ignore_errors=True)
        where.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(where, "postgres", "postgres")
        return where

    def start(self, server: str) -> None:
        port = self.ports[server]
        where = self._pg_dir(server)
        options = f"-p {port} -k {where} -c cluster_name={server}"
        self._pg_run("pg_ctl", "-D", str(where / "data"), "-l", str(where / "server.log"),
                     "-w", "-t", "60", "-o", options, "start")

    def stop(self, server: str, mode: str = "fast") -> None:
        """``immediate`` is a machine lost: no shutdown checkpoint, clients cut off."""
        self._pg_run("pg_ctl", "-D", str(self._pg_dir(server) / "data"), "-m", mode, "-w",
                     "-t", "60", "stop")

    def running(self, server: str) -> bool:
        return (self._pg_dir(server) / "data" / "postmaster.pid").exists()

    def sql(self, server: str, statement: str, database: str = "postgres") -> list[tuple]:
        import psycopg
        with psycopg.connect(host="127.0.0.1", port=self.ports[server],
                             user="postgres", dbname=database, autocommit=True,
                             connect_timeout=5) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    def is_primary(self, server: str) -> bool:
        return not self.sql(server, "SELECT pg_is_in_recovery()")[0][0]

    def primary(self) -> str | None:
        for server in SERVERS:
            with contextlib.suppress(Exception):
                if self.running(server) and self.is_primary(server):
                    return server
        return None

    def replication(self, primary: str) -> dict[str, tuple[str, str]]:
        """Standby name -> (state, sync_state), as the primary sees its standbys."""
        rows = self.sql(primary, "SELECT application_name, state, sync_state "
                                 "FROM pg_stat_replication")
        return {name: (state, sync) for name, state, sync in rows}

    def _standby_config(self, server: str, primary: str) -> None:
        data = self._pg_dir(server) / "data"
        conninfo = (f"host=127.0.0.1 port={self.ports[primary]} user=postgres "
                    f"application_name={server}")
        with open(data / "postgresql.auto.conf", "a") as conf:
            conf.write(f"primary_conninfo = '{conninfo}'\n")
        (data / "standby.signal").touch()
        if os.geteuid() == 0:
            for path in (data / "standby.signal", data / "postgresql.auto.conf"):
                shutil.chown(path, "postgres", "postgres")

    def require_sync(self, primary: str, standby: str | None, timeout: float = 60) -> None:
        """Commits on ``primary`` wait for ``standby`` to have them (none: the primary alone
        acknowledges, a degraded cluster), and, with one, wait until it is synchronous."""
        self.sql(primary, f"ALTER SYSTEM SET synchronous_standby_names = '{standby or ''}'")
        self.sql(primary, "SELECT pg_reload_conf()")
        if standby is None:
            return
        deadline = time.monotonic() + timeout
        while self.replication(primary).get(standby) != ("streaming", "sync"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{standby} is not a synchronous standby of {primary}: "
                                   f"{self.replication(primary)}")
            time.sleep(0.2)

    def init_primary(self, server: str) -> None:
        where = self._make_pg_dir(server)
        # Data checksums: pg_rewind can bring an old primary back (so can wal_log_hints).
        self._pg_run("initdb", "-D", str(where / "data"), "-A", "trust", "-U", "postgres",
                     "--data-checksums", "--no-sync")
        # The topology's settings, the same on both servers whichever role they have (the
        # standby's base backup copies them); synchronous_standby_names is set on the primary
        # of the moment (ALTER SYSTEM, _require_sync).
        with open(where / "data" / "postgresql.conf", "a") as conf:
            conf.write("\n# RegCA HA lab\nlisten_addresses = '127.0.0.1'\n"
                       "max_connections = 200\nwal_log_hints = on\nhot_standby = on\n"
                       "wal_keep_size = '512MB'\n")
        self.start(server)
        self.sql(server, f'CREATE DATABASE "{DATABASE}"')

    def base_backup(self, server: str, primary: str) -> None:
        where = self._make_pg_dir(server)
        self._pg_run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.ports[primary]),
                     "-U", "postgres", "-D", str(where / "data"), "-X", "stream",
                     "-c", "fast", timeout=300)
        self._standby_config(server, primary)
        self.start(server)

    def promote(self, server: str) -> None:
        """Make the standby the primary (its old primary stopped: the operator's decision);
        until another standby joins, it acknowledges commits alone."""
        self._pg_run("pg_ctl", "-D", str(self._pg_dir(server) / "data"), "-w", "-t", "60",
                     "promote")
        self.require_sync(server, None)
        # pg_rewind reads the new timeline from the control file: make it current now.
        self.sql(server, "CHECKPOINT")

    def rejoin_as_standby(self, server: str, primary: str) -> str:
        """Bring a stopped old primary back as a standby of ``primary``: pg_rewind (only the
        blocks that diverged), or a fresh base backup when it cannot. Returns which."""
        if self.running(server):
            self.stop(server, "fast")
        data = self._pg_dir(server) / "data"
        source = f"host=127.0.0.1 port={self.ports[primary]} user=postgres"
        try:
            self._pg_run("pg_rewind", "-D", str(data), f"--source-server={source}",
                         timeout=300)
            (data / "postmaster.pid").unlink(missing_ok=True)
            self._standby_config(server, primary)
            self.start(server)
            how = "pg_rewind"
        except RuntimeError as exc:
            with open(self.root / "rejoin.log", "a") as log:
                log.write(f"{server}: pg_rewind failed, taking a base backup: {exc}\n")
            self.base_backup(server, primary)
            how = "base backup"
        self.require_sync(primary, server)
        return how
