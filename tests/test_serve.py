"""`regca serve` under gunicorn: /healthz and the CA certificates over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from conftest import make_home
from cryptography import x509

pytestmark = [pytest.mark.hsm, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    port = free_port()
    ctx = make_home(tmp_path_factory.mktemp("serve") / "home",
                    public_url=f"http://127.0.0.1:{port}")
    env = dict(os.environ, SOFTHSM2_CONF="")
    proc = subprocess.Popen([sys.executable, "-m", "regca.cli", "--home", str(ctx.settings.home),
                             "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # gunicorn and the services' imports, on a busy machine
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=5)
            break
        except OSError:
            time.sleep(0.2)
    yield ctx, base
    proc.terminate()
    out, _ = proc.communicate(timeout=60)  # graceful stop of workers and jobs on a busy host
    assert "Traceback" not in out, out


def test_healthz_is_200_with_database_and_hsm_up(served):
    _ctx, base = served
    status, ctype, body = _get(base + "/healthz")
    assert status == 200 and ctype == "application/json"
    assert b'"hsm": "up"' in body and b'"database": "up"' in body


@pytest.mark.parametrize("name,profile", [("root", "root-ca"), ("issuing", "issuing-ca")])
def test_ca_certificates_are_served_as_der(served, name, profile):
    ctx, base = served
    status, ctype, body = _get(f"{base}/ca/{name}.crt")
    assert status == 200 and ctype == "application/pkix-cert"
    assert x509.load_der_x509_certificate(body) == ctx.certificate_of(profile)


def test_unknown_path_is_a_json_404(served):
    _ctx, base = served
    status, ctype, _ = _get(base + "/ca/nope.crt")
    assert status == 404
    status, ctype, _ = _get(base + "/no/such/thing")
    assert status == 404


def test_healthz_is_503_when_the_hsm_disappears(served):
    ctx, base = served
    tokens = ctx.settings.hsm.softhsm_conf.parent / "tokens"
    hidden = tokens.with_name("tokens-away")
    tokens.rename(hidden)
    try:
        time.sleep(1.1)  # health checks are cached for a second
        status, _, body = _get(base + "/healthz")
        assert status == 503 and b'"hsm": "down"' in body
    finally:
        hidden.rename(tokens)
    # Each worker re-initialises the module on its own next probe: wait until every answer,
    # whichever worker gives it, is 200 again. No restart is needed.
    deadline, in_a_row = time.monotonic() + 20, 0
    while in_a_row < 8 and time.monotonic() < deadline:
        in_a_row = in_a_row + 1 if _get(base + "/healthz")[0] == 200 else 0
        time.sleep(0.3)
    assert in_a_row == 8
