"""GnuTLS as an OCSP relying party: `ocsptool --ask` verifies the answers about the issuing CA
(signed by the root) and about a subscriber (signed by the delegated responder) against the
issuer, as GnuTLS trusts a responder: the issuer itself or a certificate it issued for OCSP
signing; either must come with the response, which names its signer by key only."""

from __future__ import annotations

import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from revocation_support import issue

pytestmark = pytest.mark.hsm


def _pem(path, cert):
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    return str(path)


def _ask(served, tmp_path, issuer, cert):
    """``ocsptool --ask`` about ``cert``, trusting its issuer alone."""
    issuer_pem = _pem(tmp_path / "issuer.pem", issuer)
    return subprocess.run(
        ["ocsptool", f"--ask={served.urls.ocsp}", "--load-issuer", issuer_pem,
         "--load-cert", _pem(tmp_path / "cert.pem", cert), "--load-trust", issuer_pem,
         "--no-nonce"], capture_output=True, text=True, timeout=60)


def test_ocsptool_verifies_the_roots_answer_about_the_issuing_ca(served, tmp_path):
    done = _ask(served, tmp_path, served.certificate_of("root-ca"),
                served.certificate_of("issuing-ca"))
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Verifying OCSP Response: Success." in out, out
    assert "Certificate Status: good" in out, out


def test_ocsptool_verifies_the_responders_answer_about_a_subscriber(served, tmp_path):
    _, cert, _ = issue(served, tmp_path)
    done = _ask(served, tmp_path, served.certificate_of("issuing-ca"), cert)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Verifying OCSP Response: Success." in out, out
    assert "Certificate Status: good" in out, out
