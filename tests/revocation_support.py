"""Helpers for the OCSP and CRL tests: a home served by the real ``regca serve`` on the port
its certificates name, the external judges (openssl, pkilint) and small HTTP clients."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from conftest import RESIDENT, fresh_database, make_csr, make_home
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.context import CaContext
from ca.issuance import IssuanceRequest, Issuer

REGCA = str(Path(sys.executable).with_name("regca"))
LINT_OCSP = str(Path(sys.executable).with_name("lint_ocsp_response"))
LINT_CRL = str(Path(sys.executable).with_name("lint_crl"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    ctx: CaContext
    base: str
    certs: Path  # root.pem, issuing.pem, chain.pem, ocsp.pem
    process: subprocess.Popen

    @property
    def home(self) -> Path:
        return self.ctx.settings.home


def wait_until_up(base: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"regca serve exited with {process.returncode}")
        try:
            urllib.request.urlopen(base + "/crl/issuing.crl", timeout=2).read()
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    raise RuntimeError("regca serve did not come up")


def serve_home(tmp: Path, database_url: str | None) -> Served:
    """Initialise a home whose public URL is the port it is then served on, so the URLs in
    its certificates are the ones relying parties use."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ctx = make_home(tmp / "home", database_url, public_url=base)
    certs = tmp / "certs"
    certs.mkdir()
    for name, profile in (("root.pem", "root-ca"), ("issuing.pem", "issuing-ca"),
                          ("ocsp.pem", "ocsp-responder")):
        (certs / name).write_bytes(ctx.certificate_of(profile).public_bytes(Encoding.PEM))
    (certs / "chain.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM)
                                               for c in ctx.chain()))
    # The serve job's first round runs at once; later rounds would race tests that remove
    # pre-signed responses on purpose.
    env = dict(os.environ, REGCA_REVOCATION_JOBS_INTERVAL="3600")
    if database_url:
        env["REGCA_DATABASE_URL"] = database_url
    process = subprocess.Popen(
        [REGCA, "--home", str(ctx.settings.home), "serve", "--bind", f"127.0.0.1:{port}",
         "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=open(tmp / "serve.log", "wb"), env=env,
        start_new_session=True)
    try:
        wait_until_up(base, process)
    except Exception:
        stop(process)
        raise
    return Served(ctx, base, certs, process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def issue(ctx: CaContext, tmp: Path, name: str = "ee", profile: str = "resident-signing",
          ) -> tuple[str, x509.Certificate, Path]:
    issued = Issuer(ctx).issue(IssuanceRequest(profile=profile, csr=make_csr(),
                                               subject=dict(RESIDENT), actor="test"))
    path = tmp / f"{name}.pem"
    path.write_bytes(issued.certificate.public_bytes(Encoding.PEM))
    return issued.serial, issued.certificate, path


def openssl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def http(url: str, data: bytes | None = None, headers: dict | None = None,
         method: str | None = None) -> tuple[int, Message, bytes]:
    """Status, headers (looked up whatever their case: granian sends names in lower case,
    HTTP/1.1 says case does not matter) and body, whatever the status."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def post_ocsp(base: str, der: bytes, content_type: str = "application/ocsp-request"):
    return http(base + "/ocsp", der, {"Content-Type": content_type})


def _severities(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "severity" and isinstance(value, str):
                found.append(value)
            else:
                found += _severities(value)
    elif isinstance(node, list):
        for item in node:
            found += _severities(item)
    return found


def pkilint_findings(kind: str, der: bytes, tmp: Path) -> list:
    """pkilint's findings of severity ERROR or FATAL for an OCSP response or a CRL."""
    path = tmp / f"lint-{time.monotonic_ns()}.der"
    path.write_bytes(der)
    if kind == "ocsp":
        cmd = [LINT_OCSP, "lint", "-s", "ERROR", "-f", "JSON", str(path)]
    else:
        cmd = [LINT_CRL, "lint", "-t", "CRL", "-p", "PKIX", "-s", "ERROR", "-f", "JSON",
               str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip(), done.stderr
    report = json.loads(done.stdout)
    return [r for r in report["results"]
            if {"ERROR", "FATAL"} & set(_severities(r))]


@contextlib.contextmanager
def served_on(backend: str, tmp: Path):
    """A served home on a fresh database of ``backend``, stopped and dropped afterwards."""
    with fresh_database(backend, tmp) as url:
        s = serve_home(tmp, url)
        try:
            yield s
        finally:
            stop(s.process)
            s.ctx.db.dispose()
