"""The home is private to the account that runs RegCA: it holds PESELs, password hashes, TOTP
secrets and token PINs, so a file another local user can read is a leak (issue: a 0644
``regca.db`` let anyone bypass the second factor).

Every ``regca`` command starts with umask 077, so what it and its served workers create
(``-wal``/``-shm`` included) is 0600 and every directory 0700; ``regca serve`` also checks the
home at start-up and takes group and other permissions away from what it finds open.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from ca.errors import ConfigurationError

__all__ = ["PRIVATE_UMASK", "private_umask", "exposed", "make_private"]

PRIVATE_UMASK = 0o077


def private_umask() -> None:
    """New files 0600 and directories 0700, in this process and every one it starts."""
    os.umask(PRIVATE_UMASK)


def _walk(roots: Sequence[Path]) -> Iterator[tuple[Path, os.stat_result]]:
    seen: set[Path] = set()
    for root in roots:
        if root in seen or not os.path.lexists(root):
            continue
        seen.add(root)
        st = os.lstat(root)
        yield root, st
        if stat.S_ISDIR(st.st_mode):
            for parent, dirs, files in os.walk(root):
                for name in dirs + files:
                    path = Path(parent) / name
                    if path not in seen:
                        seen.add(path)
                        yield path, os.lstat(path)


def exposed(home: Path, extra: Sequence[Path] = ()) -> list[Path]:
    """Paths in ``home`` (and ``extra``) that a group or other users may use (symbolic links
    themselves aside: their mode means nothing)."""
    return [path for path, st in _walk([home, *extra])
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077]


def make_private(home: Path, extra: Sequence[Path] = ()) -> list[Path]:
    """Take group and other permissions away from every exposed path; the paths changed.
    ConfigurationError naming the first that cannot be changed (another owner, say)."""
    changed = []
    for path in exposed(home, extra):
        try:
            os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) & ~0o077)
        except OSError as exc:
            raise ConfigurationError(
                f"{path} is open to other users and cannot be made private ({exc.strerror}); "
                "run as its owner or chmod go-rwx it") from None
        changed.append(path)
    return changed
