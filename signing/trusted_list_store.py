"""The verified EU trusted lists kept in the home, and the registry the verifiers read from them.

Layout under ``<home>/trust/``:

- ``lotl.xml``, ``tl-XX.xml``: each list exactly as it was fetched or given (signed), for audit
  and for re-checking by hand;
- ``content/XX-<sha256 prefix>.xml``: what each national list's XAdES signature covers, as
  signxml returned it after the signature checked out. This is what the verifiers load;
- ``index.json``: when the set was loaded, from where, each list's issue date, NextUpdate,
  signer fingerprint and the SHA-256 of its content file. Written last.

Every file is written to a temporary name and renamed (POSIX rename is atomic), and content
files are named by their hash, so a verifier reading the old index while a refresh runs still
finds the files that index names. The index is replaced last, in one rename: a reader sees the
whole old set or the whole new one.

Loading does not re-check the signatures: they were checked at refresh against the pinned
signers, and the content files hold only what the signature covered (so a signed list wrapped
in an unsigned outer document cannot slip unsigned entries in). Re-verifying every list in
every worker would cost seconds per reload for the full EU set. Each content file's SHA-256 is
checked against the index, which catches a truncated or swapped file; the home itself is
trusted like the rest of the CA's configuration.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from pyhanko.sign.validation.qualified.eutl_parse import trust_list_to_registry_unsafe
from pyhanko.sign.validation.qualified.tsp import TSPRegistry

__all__ = ["StoredList", "load_registry", "read_index", "trust_dir", "write_lists"]

log = logging.getLogger(__name__)

INDEX = "index.json"


def trust_dir(home: Path) -> Path:
    return Path(home) / "trust"


@dataclass(frozen=True)
class StoredList:
    """One verified list to keep: its facts for the index, the file as published, its content."""

    territory: str
    source: str
    issued: dt.datetime | None
    next_update: dt.datetime | None
    sequence: int | None
    services: int
    signer_sha256: str | None
    published: bytes
    content: str  # what the signature covered


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).isoformat() if value else None


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_lists(home: Path, lotl: StoredList, lists: list[StoredList],
                loaded_at: dt.datetime) -> dict:
    """Keep the LOTL and the verified national lists; returns the new index."""
    root = trust_dir(home)
    (root / "content").mkdir(parents=True, exist_ok=True)
    # Step 1: the published files and the content files, each renamed into place.
    _atomic_write(root / "lotl.xml", lotl.published)
    entries = {}
    for item in lists:
        data = item.content.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        name = f"content/{item.territory}-{digest[:16]}.xml"
        _atomic_write(root / name, data)
        _atomic_write(root / f"tl-{item.territory}.xml", item.published)
        entries[item.territory] = {
            "source": item.source, "issued": _iso(item.issued),
            "next_update": _iso(item.next_update), "sequence": item.sequence,
            "services": item.services, "signer_sha256": item.signer_sha256,
            "content": name, "content_sha256": digest}
    index = {"loaded_at": _iso(loaded_at),
             "lotl": {"source": lotl.source, "issued": _iso(lotl.issued),
                      "next_update": _iso(lotl.next_update), "sequence": lotl.sequence,
                      "signer_sha256": lotl.signer_sha256},
             "lists": entries}
    # Step 2: the index, in one rename; readers switch to the new set here.
    _atomic_write(root / INDEX, json.dumps(index, indent=1, sort_keys=True).encode())
    # Step 3: content files no index names any more (a reader holding the old index retries).
    keep = {e["content"] for e in entries.values()}
    for old in (root / "content").glob("*.xml"):
        if f"content/{old.name}" not in keep:
            old.unlink(missing_ok=True)
    for old in root.glob("tl-*.xml"):  # a list refused this time is not left looking current
        if old.name[3:-4] not in entries:
            old.unlink(missing_ok=True)
    return index


def read_index(home: Path) -> dict | None:
    """The index of the stored set, or None when no refresh has stored one."""
    try:
        return json.loads((trust_dir(home) / INDEX).read_text())
    except FileNotFoundError:
        return None


def _build_registry(root: Path, index: dict) -> TSPRegistry:
    registry = TSPRegistry()
    for territory, entry in sorted(index.get("lists", {}).items()):
        data = (root / entry["content"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["content_sha256"]:
            log.error("trusted list %s: %s does not match the index; not loaded",
                      territory, entry["content"])
            continue
        _, errors = trust_list_to_registry_unsafe(data.decode("utf-8"), registry)
        for err in errors:
            log.warning("trusted list %s: service entry skipped: %s", territory, err)
    return registry


_cache: dict[Path, tuple[tuple, TSPRegistry]] = {}
_building: set[Path] = set()
_lock = threading.Lock()


def _stamp(index_path: Path) -> tuple | None:
    try:
        st = index_path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _rebuild(root: Path) -> TSPRegistry | None:
    index_path = root / INDEX
    for _attempt in range(2):  # a refresh may prune a file between reading the index and it
        stamp = _stamp(index_path)
        if stamp is None:
            return None
        try:
            registry = _build_registry(root, json.loads(index_path.read_text()))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A damaged store reads as "no lists" (qualification unknown), never a 500.
            log.error("trusted lists in %s not loaded: %s", root, exc)
            return None
        with _lock:
            _cache[root] = (stamp, registry)
        return registry
    return None


def _rebuild_in_background(root: Path) -> None:
    try:
        _rebuild(root)
    finally:
        with _lock:
            _building.discard(root)


def load_registry(home: Path, *, wait: bool = False) -> TSPRegistry | None:
    """The qualified services of the stored lists (None when none are stored).

    Cached per process and rebuilt when the index file changes (its inode, size or mtime: a
    refresh replaces it by rename), so running workers pick up a refresh without restart.
    Reading the full EU set takes seconds (about 0.7 s for Belgium's 700 kB list), so once a
    worker has a registry, a changed index is read in a background thread and the previous
    registry keeps answering until the new one is ready; ``wait=True`` reads it at once.
    """
    root = trust_dir(home)
    stamp = _stamp(root / INDEX)
    if stamp is None:
        return None
    with _lock:
        cached = _cache.get(root)
        if cached and cached[0] == stamp:
            return cached[1]
        if cached and not wait:
            if root not in _building:
                _building.add(root)
                threading.Thread(target=_rebuild_in_background, args=(root,), daemon=True,
                                 name="trusted-lists-reload").start()
            return cached[1]
    return _rebuild(root)
