"""The wheel works outside the checkout: built from the repository, installed into a fresh
virtualenv, it initialises a demo home and serves it from a directory that is not the checkout.

The virtualenv is made from the base interpreter (not the test run's venv, and without its site
packages), and ``pip install`` takes the wheel's dependencies from the machine's own pip
configuration, the same place ``make install`` takes them from: about half a minute here, and the
honest check that the wheel declares everything it needs. What this pins is that the installed
package finds ``policies/`` and ``hsm-config/`` as package data (ca/config.py), not through the
repository root.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from tsa_support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.hsm]

ROOT = Path(__file__).resolve().parents[1]
# What a build never needs: version control, local environments, homes and earlier builds.
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "var", "build", "dist", "*.egg-info",
                                     "__pycache__", ".pytest_cache", "artifacts", "results")


def _clean_env() -> dict:
    """The environment without anything that points into the checkout or at a test home."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "SOFTHSM2_CONF", "REGCA_HOME", "REGCA_DATABASE_URL",
            "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(cmd: list, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_clean_env(), text=True,
                          capture_output=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd}: {done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel built from this repository installed in it."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)  # the build writes nothing in the checkout
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", source],
         tmp, 300)
    wheel, = (tmp / "dist").glob("regca-*.whl")
    venv = tmp / "venv"
    # Without a pip of its own (ensurepip takes seconds): this run's pip installs into it.
    _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", venv],
         tmp, 120)
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
          wheel], tmp, 600)
    return venv


def test_installed_package_finds_its_policies_and_hsm_config_outside_the_checkout(
        installed, tmp_path):
    done = _run([installed / "bin" / "python", "-c",
                 "import ca, ca.config as c; print(ca.__file__); print(c.POLICIES_DIR); "
                 "print(c.HSM_CONFIG_DIR)"], tmp_path, 60)
    package, policies, hsm_config = (Path(line) for line in done.stdout.split())
    site = installed.resolve()
    for path in (package, policies, hsm_config):
        assert site in path.resolve().parents, path  # inside the venv, not the checkout
    assert (policies / "oids.toml").is_file() and list((policies / "profiles").glob("*.toml"))
    assert (hsm_config / "pkcs11.toml").is_file()
    assert (hsm_config / "softhsm2.conf.in").is_file()


def test_installed_wheel_runs_init_demo_and_serve(installed, tmp_path):
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    home, port = tmp_path / "home", free_port()
    regca = installed / "bin" / "regca"
    _run([regca, "--home", home, "init", "--demo", "--public-url", f"http://127.0.0.1:{port}"],
         cwd, 300)
    proc = subprocess.Popen([str(regca), "--home", str(home), "serve", "--bind",
                             f"127.0.0.1:{port}", "--workers", "1"], cwd=cwd, env=_clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.3)
        assert status == 200, f"/healthz never answered 200 (exit {proc.poll()})"
        with urllib.request.urlopen(base + "/ca/root.crt", timeout=10) as r:
            root = x509.load_der_x509_certificate(r.read())
        cn = root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert cn == "RegCA Root CA" and root.issuer == root.subject
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # gunicorn, its workers and the jobs process
        out, _ = proc.communicate(timeout=30)
    assert "Traceback" not in out, out
