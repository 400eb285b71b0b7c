"""Helpers for the TSA tests: serving a home over real HTTP and the openssl ts client."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

QUERY_TYPE = "application/timestamp-query"
REGCA = str(Path(sys.executable).with_name("regca"))
ROOT = Path(__file__).resolve().parents[1]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextlib.contextmanager
def wsgi_thread(app, port: int = 0):
    """``app`` served by wsgiref on ``port`` (default a free one); yields the base URL."""
    server = make_server("127.0.0.1", port, app, server_class=_ThreadingServer,
                         handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def regca_serve(home: Path, workers: int = 2, env: dict | None = None, server: str | None = None,
                port: int | None = None):
    """``regca serve`` as a subprocess (``server``: granian, gunicorn, or the default) on
    ``port`` (default a free one); yields (base URL, process). Stops it with SIGTERM, the clean
    stop an operator's service manager sends. It serves this checkout's code (first on
    PYTHONPATH), whatever checkout the virtualenv was installed from."""
    port = port or free_port()
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.Popen([REGCA, "--home", str(home), "serve", "--bind", f"127.0.0.1:{port}",
                             "--workers", str(workers),
                             *(["--server", server] if server else [])],
                            env={**os.environ, "PYTHONPATH": path, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:  # refused, reset or timed out while the server starts
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("regca serve did not start: "
                                       + proc.stderr.read().decode(errors="replace")) from None
                time.sleep(0.2)
        yield base, proc
    finally:
        stop(proc)


def server_workers(proc: subprocess.Popen) -> set[int]:
    """The server's worker processes (its children but the revocation-jobs process)."""
    children = set()
    for task in Path(f"/proc/{proc.pid}/task").iterdir():
        try:
            children |= {int(p) for p in (task / "children").read_text().split()}
        except FileNotFoundError:  # a thread that ended since the listing
            continue
    workers = set()
    for pid in children:
        try:
            if b"regca.scheduler" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.add(pid)
        except FileNotFoundError:  # exited since
            continue
    return workers


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def post(url: str, body: bytes, content_type: str = QUERY_TYPE,
         headers: dict | None = None) -> tuple[int, str, bytes]:
    """POST and return (status, Content-Type, body) whatever the status."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)


def make_query(workdir: Path, name: str, *options: str, data: bytes = b"RegCA test\n") -> Path:
    """``openssl ts -query`` over a data file; returns the query file."""
    (workdir / f"{name}.txt").write_bytes(data)
    done = openssl("ts", "-query", "-data", f"{name}.txt", *options, "-out", f"{name}.tsq",
                   cwd=workdir)
    assert done.returncode == 0, done.stderr
    return workdir / f"{name}.tsq"


def reply_text(workdir: Path, reply: Path) -> str:
    done = openssl("ts", "-reply", "-in", reply.name, "-text", cwd=workdir)
    assert done.returncode == 0, done.stderr
    return done.stdout


def home_with_tsa_key(home: Path, algorithm: str, clock=None):
    """A home whose TSA key has ``algorithm``."""
    from ca.context import CaContext
    from regca.bootstrap import InitOptions, initialise

    initialise(InitOptions(home, operator_name="RegCA test", key_algorithms={"tsa": algorithm}),
               clock=clock)
    return CaContext.open(home, clock)
