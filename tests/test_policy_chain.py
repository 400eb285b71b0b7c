"""A chain every client accepts: explicit-policy validation in OpenSSL and NSS for every
end-entity profile, and an API seal that poppler (through NSS) trusts.

The CA certificates carry the policies their end entities assert (RFC 5280 §6.1), the end
entities the ETSI EN 319 411-1 policy the CP/CPS claims; the judges are `openssl verify
-explicit_policy`, NSS `vfychain -pp -o` and `pdfsig -nssdir`.
"""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest
from conftest import RESIDENT, STAFF, make_csr, make_home, new_key
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from signing_support import sample_pdf

from ca.issuance import IssuanceRequest, Issuer
from ca.profiles import ETSI_POLICIES
from ra.apikeys import create_api_key
from regca.roles import in_process_timestamper, signing_app

pytestmark = pytest.mark.hsm

# End-entity profiles and the NSS usage (vfychain -u) each one is meant for.
NSS_USAGE = {"staff-signing": 4, "staff-authentication": 0, "resident-signing": 4,
             "resident-authentication": 0, "seal": 4, "ocsp-responder": 10}
SUBSCRIBERS = {"staff-signing": STAFF, "staff-authentication": STAFF,
               "resident-signing": RESIDENT, "resident-authentication": RESIDENT}
SERVICE = ("seal", "ocsp-responder", "tsa")


def _certificate(ctx, profile: str) -> x509.Certificate:
    if profile in SERVICE:
        return ctx.certificate_of(profile)
    return Issuer(ctx).issue(IssuanceRequest(profile, make_csr(new_key()),
                                             dict(SUBSCRIBERS[profile]), "test")).certificate


def _write(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def anchors(sqlite_ctx, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("anchors")
    _write(out / "root.pem", sqlite_ctx.certificate_of("root-ca"))
    _write(out / "issuing.pem", sqlite_ctx.certificate_of("issuing-ca"))
    return out


def nss_db(where: Path, root: Path) -> Path:
    """An NSS database that trusts ``root`` as a CA for every purpose, made with certutil."""
    where.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{where}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{where}", "-n", "RegCA root", "-t", "CT,C,C",
                    "-a", "-i", str(root)], check=True)
    return where


def _etsi_policy(cert: x509.Certificate) -> str:
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    [etsi] = [p.policy_identifier.dotted_string for p in policies
              if p.policy_identifier.dotted_string in ETSI_POLICIES]
    return etsi


def _openssl_verify(anchors: Path, leaf: Path, policy: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "verify", "-explicit_policy", "-policy", policy,
                           "-CAfile", str(anchors / "root.pem"),
                           "-untrusted", str(anchors / "issuing.pem"), str(leaf)],
                          capture_output=True, text=True)


@pytest.mark.parametrize("profile", [*SUBSCRIBERS, *SERVICE])
def test_openssl_explicit_policy_accepts_the_profiles_etsi_policy(sqlite_ctx, anchors,
                                                                   tmp_path, profile):
    cert = _certificate(sqlite_ctx, profile)
    leaf = _write(tmp_path / "leaf.pem", cert)
    for policy in (_etsi_policy(cert), sqlite_ctx.profiles.get(profile).own_policy):
        done = _openssl_verify(anchors, leaf, policy)
        assert done.returncode == 0 and "OK" in done.stdout, done.stdout + done.stderr


def test_openssl_explicit_policy_refuses_a_policy_the_certificate_does_not_claim(
        sqlite_ctx, anchors, tmp_path):
    leaf = _write(tmp_path / "leaf.pem", _certificate(sqlite_ctx, "resident-signing"))
    done = _openssl_verify(anchors, leaf, "0.4.0.2042.1.3")  # LCP: claimed by no profile
    assert done.returncode != 0
    assert "policy" in (done.stdout + done.stderr).lower()


def _vfychain(db: Path, anchors: Path, leaf: Path, usage: int, policy: str):
    return subprocess.run(["vfychain", "-d", f"sql:{db}", "-pp", "-u", str(usage),
                           "-o", f"OID.{policy}", "-a", str(anchors / "issuing.pem"),
                           "-a", str(leaf)], capture_output=True, text=True)


@pytest.mark.parametrize("profile", NSS_USAGE)
def test_nss_vfychain_accepts_the_profiles_etsi_policy(sqlite_ctx, anchors, tmp_path,
                                                       profile):
    cert = _certificate(sqlite_ctx, profile)
    leaf = _write(tmp_path / "leaf.pem", cert)
    db = nss_db(tmp_path / "nss", anchors / "root.pem")
    done = _vfychain(db, anchors, leaf, NSS_USAGE[profile], _etsi_policy(cert))
    assert done.returncode == 0 and "Chain is good!" in done.stderr, done.stdout + done.stderr


def test_nss_vfychain_refuses_a_policy_the_certificate_does_not_claim(sqlite_ctx, anchors,
                                                                       tmp_path):
    leaf = _write(tmp_path / "leaf.pem", _certificate(sqlite_ctx, "seal"))
    db = nss_db(tmp_path / "nss", anchors / "root.pem")
    done = _vfychain(db, anchors, leaf, 4, "0.4.0.2042.1.3")  # LCP: outside the CA's list
    assert done.returncode != 0
    assert "policy validation" in done.stdout + done.stderr


def test_pdfsig_with_nss_trusting_the_root_trusts_an_api_seal(served, tmp_path):
    """poppler asks NSS for a document signer (certUsageEmailSigner): the seal's EKU must be
    one NSS accepts, and its OCSP answer (fetched from the served home) good."""
    app = signing_app(served, timestamper=in_process_timestamper(served), fetch_revocation=False)
    key = create_api_key(served, "eod", ["sign"], None)
    resp = app.test_client().post("/api/v1/sign/pdf", data=sample_pdf(),
                                  query_string={"level": "B-B"},
                                  headers={"Authorization": f"Bearer {key}",
                                           "Content-Type": "application/pdf"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    (tmp_path / "sealed.pdf").write_bytes(resp.get_data())
    root = _write(tmp_path / "root.pem", served.certificate_of("root-ca"))
    db = nss_db(tmp_path / "nss", root)
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{db}", str(tmp_path / "sealed.pdf")],
                         capture_output=True, text=True, timeout=60).stdout
    assert "Signature Validation: Signature is Valid." in out, out
    assert "Certificate Validation: Certificate is Trusted." in out, out


def test_the_cps_uri_in_a_certificate_serves_the_cps(served):
    cert = served.certificate_of("seal")
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    [uri] = [q for p in policies for q in p.policy_qualifiers or ()]
    with urllib.request.urlopen(uri, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/markdown")
        assert resp.read() == (served.settings.policies_dir / "cps.md").read_bytes()


def test_a_cps_url_that_is_not_http_is_refused_at_load(tmp_path):
    from ca.config import load_settings
    from ca.errors import ConfigurationError
    home = tmp_path / "home"
    make_home(home)
    config = home / "regca.toml"
    config.write_text('cps_url = "ftp://pki.lubuskie.pl/cps"\n' + config.read_text())
    with pytest.raises(ConfigurationError, match="cps_url"):
        load_settings(home)
