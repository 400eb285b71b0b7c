"""``regca backup`` / ``regca restore``: a whole home in one encrypted file, and back.

What a backup holds (a tar stream inside ``regca.encrypted_stream``):
- ``manifest.json``: format, when, which database kind;
- ``database.sqlite`` (SQLite's online backup API) or ``database.pgdump`` (``pg_dump``), a
  consistent snapshot taken while the service runs;
- ``home/...``: every other file of the home: regca.toml, the SoftHSM2 token store (the keys,
  encrypted by SoftHSM2 under the token PINs), PIN files of the online token, CRLs, trusted lists.
  The root token's PIN is never in a home, so never in a backup: a restored root needs its PIN
  from the ceremony's keepers. With a real HSM the keys are not files: back them up with the
  vendor's tooling (hsm-config/KEY-CEREMONY.md, "Backup").

A restore builds the home in a hidden directory beside DIR, loads a PostgreSQL dump in one
transaction, and renames the directory into place last: on any failure (a wrong passphrase, a
damaged file, a database that is not empty) DIR is left as it was found.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ca.audit import Event
from ca.clock import Clock, SystemClock
from ca.context import CaContext
from ca.errors import ConfigurationError, RegCAError
from ca.store import audit as audit_store
from ca.store.db import Database
from ca.store.snapshot import pg_restore
from regca.encrypted_stream import (
    FORMAT_VERSION,
    BackupRefused,
    DecryptingReader,
    EncryptingWriter,
)

__all__ = ["BackupReport", "RestoreReport", "make_backup", "restore", "BackupRefused",
           "PASSPHRASE_ENV"]

PASSPHRASE_ENV = "REGCA_BACKUP_PASSPHRASE"
_DB_MEMBER = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
# SQLite's own files beside the database and the writers' lock: the snapshot replaces them.
_SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal", ".writers")
_TOKEN_COPY_ATTEMPTS = 5


@dataclass(frozen=True)
class BackupReport:
    path: Path
    database: str
    files: int
    size: int


@dataclass(frozen=True)
class RestoreReport:
    home: Path
    database: str
    files: int


def passphrase_from_env() -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if not value:
        raise ConfigurationError(f"set {PASSPHRASE_ENV} to the backup passphrase")
    return value


# -- backup ---------------------------------------------------------------------------------

def _skipped(ctx: CaContext, out: Path) -> set[Path]:
    skip = {out.resolve()}
    if ctx.db.dialect == "sqlite":
        database = Path(ctx.db.url.split("///", 1)[1]).resolve()
        skip |= {Path(f"{database}{suffix}") for suffix in _SQLITE_SIDE_FILES}
    return skip


def _add_file_steadily(tar: tarfile.TarFile, path: Path, name: str) -> None:
    """Add a file that another process may be rewriting (SoftHSM2 rewrites a token's object
    file at every log-in): copy it again until it did not change while being read."""
    for _ in range(_TOKEN_COPY_ATTEMPTS):
        before = path.stat()
        data = path.read_bytes()
        after = path.stat()
        if (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, after.st_size):
            break
    else:
        raise RegCAError(f"{path} kept changing while it was copied; try again")
    info = tar.gettarinfo(str(path), arcname=name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_backup(ctx: CaContext, out: Path, passphrase: str,
                actor: str = "operator:cli") -> BackupReport:
    """Snapshot the database and copy the home into ``out``, encrypted with ``passphrase``."""
    home, out = ctx.settings.home, out.resolve()
    if out.is_relative_to(home) and not out.parent.exists():
        raise ConfigurationError(f"{out.parent}: no such directory")
    kind = "sqlite" if ctx.db.dialect == "sqlite" else "postgresql"
    # The event is written first, so the snapshot carries the record of its own making.
    with ctx.db.transaction() as s:
        ctx.audit(s, Event(actor=actor, action="home.backup", object=f"home:{home.name}",
                           details={"database": kind, "file": out.name,
                                    "format": FORMAT_VERSION}))
    skip = _skipped(ctx, out)
    files = 0
    partial = out.with_name(f".{out.name}.{secrets.token_hex(4)}.partial")
    try:
        with tempfile.TemporaryDirectory(prefix="regca-backup-") as tmp:
            snapshot = Path(tmp) / _DB_MEMBER[kind]
            ctx.db.snapshot(snapshot)
            with open(partial, "xb") as raw:
                os.fchmod(raw.fileno(), 0o600)
                sealed = EncryptingWriter(raw, passphrase)
                with tarfile.open(fileobj=sealed, mode="w|gz") as tar:
                    manifest = json.dumps({"format": FORMAT_VERSION, "database": kind,
                                           "home": home.name,
                                           "created": ctx.now().isoformat()}).encode()
                    info = tarfile.TarInfo("manifest.json")
                    info.size = len(manifest)
                    tar.addfile(info, io.BytesIO(manifest))
                    tar.add(snapshot, arcname=snapshot.name)
                    for path in sorted(home.rglob("*")):
                        if path.resolve() in skip or path.name.startswith(f".{out.name}."):
                            continue
                        name = f"home/{path.relative_to(home)}"
                        if path.is_file() and not path.is_symlink():
                            _add_file_steadily(tar, path, name)
                            files += 1
                        elif path.is_dir() and not path.is_symlink():
                            tar.add(path, arcname=name, recursive=False)
                sealed.close()
                os.fsync(raw.fileno())
        os.replace(partial, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupReport(out, kind, files, out.stat().st_size)


# -- restore --------------------------------------------------------------------------------

def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigurationError(f"{target}: restore needs an absent or empty directory")
    if not target.parent.is_dir():
        raise ConfigurationError(f"{target.parent}: no such directory")


def _unpack(src: Path, passphrase: str, into: Path) -> dict:
    """Decrypt and extract every member into ``into``; the whole file is authenticated."""
    with open(src, "rb") as raw:
        reader = DecryptingReader(raw, passphrase)
        try:
            with tarfile.open(fileobj=reader, mode="r|gz") as tar:
                tar.extractall(into, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise BackupRefused(f"backup file is damaged: {exc}") from None
        reader.verify_to_end()
    try:
        manifest = json.loads((into / "manifest.json").read_text())
    except (OSError, ValueError):
        raise BackupRefused("backup has no readable manifest") from None
    if manifest.get("format") != FORMAT_VERSION or manifest.get("database") not in _DB_MEMBER:
        raise BackupRefused("backup manifest is not one this RegCA reads")
    return manifest


_TOKENDIR_LINE = re.compile(r"^directories\.tokendir\s*=.*$", re.MULTILINE)
_DATABASE_LINE = re.compile(r"^database_url\s*=.*\n?", re.MULTILINE)


def _set_database_url(config: Path, url: str | None) -> None:
    """Point regca.toml at the restored database: SQLite in the home (the default, no line),
    or the PostgreSQL URL the restore loaded."""
    text = _DATABASE_LINE.sub("", config.read_text())
    if url:
        text = text.replace("\n[operator]", f"database_url = {json.dumps(url)}\n\n[operator]", 1)
    config.write_text(text)


def _database_url(config: Path) -> str | None:
    import tomllib
    return tomllib.loads(config.read_text()).get("database_url")


def restore(src: Path, target: Path, passphrase: str, database_url: str | None = None,
            actor: str = "operator:cli", clock: Clock | None = None) -> RestoreReport:
    """Build a working home at ``target`` (absent or empty) from the backup ``src``.

    ``database_url``: where a PostgreSQL backup is loaded (default: the URL the backed-up home
    used); it must name an empty database. A SQLite backup always lands in the new home."""
    target = target.absolute()
    _check_target(target)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.restoring-", dir=target.parent))
    loaded_into: Database | None = None
    try:
        # Step 1: decrypt, authenticate and unpack, nothing outside the work directory yet.
        manifest = _unpack(src, passphrase, work)
        home = work / "home"
        config = home / "regca.toml"
        if not config.is_file():
            raise BackupRefused("backup holds no regca.toml")
        kind = manifest["database"]
        # Step 2: paths of the new home (the token store is named by absolute path).
        conf = home / "hsm" / "softhsm2.conf"
        if conf.exists():
            conf.write_text(_TOKENDIR_LINE.sub(
                f"directories.tokendir = {target / 'hsm' / 'tokens'}", conf.read_text()))
        # Step 3: the database.
        if kind == "sqlite":
            _set_database_url(config, None)
            (work / _DB_MEMBER[kind]).rename(home / "regca.db")
            url = f"sqlite:///{home / 'regca.db'}"
        else:
            url = database_url or _database_url(config)
            if not url or url.startswith("sqlite"):
                raise ConfigurationError("a PostgreSQL backup needs REGCA_DATABASE_URL (or the "
                                         "backed-up database_url) naming an empty database")
            database = Database(url)
            try:
                if database.table_names():
                    raise ConfigurationError(f"database {database.safe_url} is not empty; "
                                             "restore only into an empty database")
            finally:
                database.dispose()
            pg_restore(url, work / _DB_MEMBER[kind])
            loaded_into = Database(url)
            _set_database_url(config, url)
        # Step 4: the restore is an event of the restored log.
        database = Database(url)
        try:
            with database.transaction() as s:
                audit_store.append(s, Event(actor=actor, action="home.restore",
                                            object=f"home:{target.name}",
                                            details={"database": kind, "file": src.name}),
                                   (clock or SystemClock()).now())
        finally:
            database.dispose()
        files = sum(1 for p in home.rglob("*") if p.is_file())
        # Step 5: into place, last.
        was_there = target.exists()
        if was_there:
            target.rmdir()
        try:
            home.rename(target)
        except OSError:
            if was_there:
                target.mkdir()
            raise
        loaded_into = None
        return RestoreReport(target, kind, files)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if loaded_into is not None:
            with contextlib.suppress(Exception):
                loaded_into.drop_all_tables()
