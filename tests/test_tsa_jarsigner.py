"""Java's jarsigner as an RFC 3161 client: it time-stamps a jar with ``-tsa`` and its
``-verify`` shows the time-stamp and accepts the TSA chain."""

from __future__ import annotations

import shutil
import subprocess
import zipfile

import pytest
from conftest import run_cli
from tsa_support import wsgi_thread

from regca.wsgi import create_app

JDK = all(shutil.which(tool) for tool in ("jarsigner", "keytool"))
pytestmark = [pytest.mark.hsm,
              pytest.mark.skipif(not JDK, reason="no JDK (jarsigner, keytool) on this machine")]
STOREPASS = "changeit"


def _run(*cmd: str, cwd) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def keystore(sqlite_ctx, tmp_path):
    """A PKCS#12 keystore with the client's own signing key (software: it plays the developer)
    and the RegCA chain as trusted entries, so jarsigner can validate the TSA's chain."""
    assert run_cli(sqlite_ctx.settings.home, "export-ca", "--out", str(tmp_path)).code == 0
    _run("keytool", "-genkeypair", "-keystore", "ks.p12", "-storetype", "PKCS12",
         "-storepass", STOREPASS, "-alias", "developer", "-keyalg", "EC",
         "-groupname", "secp256r1", "-dname", "CN=Test Developer", "-validity", "30",
         cwd=tmp_path)
    for alias, pem in (("regca-root", "root.pem"), ("regca-issuing", "issuing.pem")):
        _run("keytool", "-importcert", "-noprompt", "-alias", alias, "-file", pem,
             "-keystore", "ks.p12", "-storepass", STOREPASS, cwd=tmp_path)
    return tmp_path / "ks.p12"


def test_jarsigner_timestamps_a_jar_and_verify_shows_it(sqlite_ctx, keystore, tmp_path):
    with zipfile.ZipFile(tmp_path / "app.jar", "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        jar.writestr("pl/regca/Hello.txt", "Dzień dobry")
    with wsgi_thread(create_app(sqlite_ctx.settings.home, sqlite_ctx)) as base:
        signed = _run("jarsigner", "-keystore", "ks.p12", "-storepass", STOREPASS,
                      "-tsa", f"{base}/tsa", "app.jar", "developer", cwd=tmp_path)
    assert "TSA certificate chain is invalid" not in signed
    verified = _run("jarsigner", "-verify", "-verbose", "-keystore", "ks.p12",
                    "-storepass", STOREPASS, "app.jar", cwd=tmp_path)
    assert "jar verified." in verified
    assert 'Timestamped by "CN=RegCA Time-Stamping Unit' in verified
    assert "Timestamp digest algorithm: SHA-256" in verified
    assert "TSA certificate chain is invalid" not in verified
