"""A PostgreSQL cluster of a test's own (Debian's server binaries, initdb'd into a temporary
directory, on a free port of 127.0.0.1), which the test may stop and start: never the shared
server the rest of the suite uses."""

from __future__ import annotations

import contextlib
import glob
import shutil
import subprocess
import tempfile
from pathlib import Path

from revocation_support import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


def available() -> bool:
    return bool(_bin("initdb") and _bin("pg_ctl") and shutil.which("runuser"))


class Cluster:
    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", _bin("pg_ctl"), "-D",
                        str(self.root / "data"), "-w", "-t", "60", *args],
                       check=True, capture_output=True, timeout=90)

    def start(self) -> None:
        self._pg_ctl("-l", str(self.root / "server.log"), "-o",
                     f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                     "-c fsync=off -c max_connections=60", "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")


@contextlib.contextmanager
def scratch_cluster():
    """A running cluster (trust authentication, user postgres), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="regca-pg-"))
    shutil.chown(root, "postgres")
    cluster = Cluster(root, free_port())
    subprocess.run(["runuser", "-u", "postgres", "--", _bin("initdb"), "-D", str(root / "data"),
                    "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
