"""The home is private: what `regca` commands and served workers create is 0600 (0700 for
directories), SQLite's -wal and -shm included, and `regca serve` closes what it finds open."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import STAFF, make_csr, make_home
from tsa_support import free_port

pytestmark = pytest.mark.hsm

REGCA = [sys.executable, "-m", "regca.cli"]


def _modes(home: Path) -> dict[str, int]:
    """Every path under ``home`` (the home too) and its permission bits, read from the disk."""
    found = {".": stat.S_IMODE(os.lstat(home).st_mode)}
    for parent, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(parent) / name
            if not path.is_symlink():
                found[str(path.relative_to(home))] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def _assert_private(home: Path) -> dict[str, int]:
    modes = _modes(home)
    open_ = {p: oct(m) for p, m in modes.items() if m & 0o077}
    assert open_ == {}
    for path, mode in modes.items():
        expected = 0o700 if (home / path).is_dir() else 0o600
        assert mode & 0o700 == expected & 0o700 or mode == expected, (path, oct(mode))
    return modes


def test_regca_init_creates_a_private_home(tmp_path):
    home = tmp_path / "home"
    r = subprocess.run([*REGCA, "--home", str(home), "init", "--demo"], capture_output=True,
                       text=True, timeout=300, env=dict(os.environ, SOFTHSM2_CONF=""))
    assert r.returncode == 0, r.stderr
    modes = _assert_private(home)
    assert modes["."] == 0o700 and modes["regca.db"] == 0o600
    assert modes["regca.toml"] == 0o600


@pytest.fixture(scope="module")
def served_open_home(tmp_path_factory):
    """A home left open (0755 directories, 0644 files, as an older RegCA made them), then
    served by `regca serve` with two workers."""
    port = free_port()
    ctx = make_home(tmp_path_factory.mktemp("open") / "home",
                    public_url=f"http://127.0.0.1:{port}")
    home = ctx.settings.home
    ctx.db.dispose()
    for path in [home, *home.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert _modes(home)["regca.db"] == 0o644
    proc = subprocess.Popen([*REGCA, "--home", str(home), "serve", "--bind",
                             f"127.0.0.1:{port}", "--workers", "2"],
                            env=dict(os.environ, SOFTHSM2_CONF=""), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=5)
            break
        except OSError:
            time.sleep(0.2)
    yield home, base
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert "made" in out and "private" in out, out


def test_serve_makes_an_open_home_private_and_its_workers_write_private_files(served_open_home):
    home, base = served_open_home
    key = subprocess.run([*REGCA, "--home", str(home), "apikey", "create", "--name", "ra",
                          "--scopes", "issue", "--org", "0862011"], capture_output=True,
                         text=True, timeout=120, check=True).stdout.strip()
    for _ in range(4):  # writes in both workers: the WAL and its index exist from here
        req = urllib.request.Request(
            base + "/api/v1/certificates", method="POST",
            data=json.dumps({"profile": "staff-signing", "csr": make_csr().decode(),
                             "subject": STAFF}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        assert urllib.request.urlopen(req, timeout=30).status == 201
    modes = _assert_private(home)
    assert modes["."] == 0o700
    for name in ("regca.db", "regca.db-wal", "regca.db-shm"):
        assert modes[name] == 0o600, (name, oct(modes[name]))
    assert modes["logs"] == 0o700 and modes["logs/access.log"] == 0o600
