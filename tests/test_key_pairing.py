"""A certificate must certify the HSM key it is paired with: a home whose certificate was
re-issued for another key is refused at start-up (``regca serve``, each service app), in the
command line and by /healthz, with one line naming the key label and both key fingerprints.

Each mismatch is a real one: the CA re-issues a service certificate for another role's HSM key,
as an operator mixing up key labels would, and that newer certificate becomes the current one
(for a service, its active generation recorded under the role's own key label).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import PINNED, RESIDENT, ROOT_PIN, make_csr, make_home, run_cli
from werkzeug.test import Client

from ca.certbuilder import CertificateSpec
from ca.clock import FixedClock
from ca.context import CaContext
from ca.errors import KeyMismatch
from ca.issuance import Issuer
from ca.rolekeys import SERVICE_PROFILES
from ca.rollover import record_generation
from keys.objects import spki_fingerprint
from regca.health import HealthApp
from regca.roles import ocsp_app, tsa_app
from regca.roles import signing_app as create_signing
from regca.wsgi import create_app as create_wsgi

pytestmark = [pytest.mark.hsm]

LABELS = {"ocsp": "regca-ocsp-responder", "tsa": "regca-tsa", "seal": "regca-seal",
          "issuing": "regca-issuing-ca"}
PROFILES = {"ocsp": "ocsp-responder", "tsa": "tsa", "seal": "seal", "issuing": "issuing-ca"}
# Each service app, built on a home, and the HSM key role it signs with.
APPS = {"ocsp": ocsp_app, "tsa": tsa_app, "seal": create_signing}


def reissue_for_other_key(path, role: str, other: str) -> CaContext:
    """A demo home at ``path`` whose current ``role`` certificate certifies ``other``'s key."""
    make_home(path)
    ctx = CaContext.open(path, FixedClock(PINNED + dt.timedelta(minutes=1)))  # the newest one
    current = ctx.certificate_of(PROFILES[role])
    # An issuing CA is signed by the root: at a ceremony, with the root's PIN.
    issuer = (ctx.with_root_pin(ROOT_PIN).authority("root") if role == "issuing"
              else ctx.authority("issuing"))
    spec = CertificateSpec(ctx.profiles.get(PROFILES[role]), current.subject,
                           ctx.hsm.public_key(other))
    issued = Issuer(ctx).issue_spec(spec, issuer, "test",
                                    ctx.operator.teryt if role == "seal" else None)
    if role in SERVICE_PROFILES or role == "issuing":  # made the active generation, under
        # the role's own key label (an issuing CA's generations are recorded as a service's)
        record_generation(ctx, role, "", 2, issued, "test", ctx.hsm.config.key(role))
    ctx.forget_cached()
    return ctx


def fingerprints(ctx: CaContext, role: str, other: str) -> tuple[str, str]:
    return spki_fingerprint(ctx.hsm.public_key(role)), spki_fingerprint(ctx.hsm.public_key(other))


def assert_names_the_mismatch(message: str, ctx: CaContext, role: str, other: str) -> None:
    held, certified = fingerprints(ctx, role, other)
    assert repr(LABELS[role]) in message
    assert f"HSM key SHA-256 {held}" in message
    assert f"certificate key SHA-256 {certified}" in message
    assert "\n" not in message


@pytest.fixture(scope="module")
def ocsp_swapped(tmp_path_factory):
    """The OCSP responder's certificate re-issued for the TSA's key."""
    ctx = reissue_for_other_key(tmp_path_factory.mktemp("swapped") / "home", "ocsp", "tsa")
    yield ctx
    ctx.db.dispose()


def test_regca_serve_refuses_a_certificate_for_another_key_with_one_line(ocsp_swapped):
    ctx = ocsp_swapped
    env = dict(os.environ, SOFTHSM2_CONF="")
    proc = subprocess.Popen([sys.executable, "-m", "regca.cli", "--home", str(ctx.settings.home),
                             "serve", "--bind", "127.0.0.1:0"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # it serves: stop it, its workers and its scheduler
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("regca: error: "), err
    assert_names_the_mismatch(lines[0], ctx, "ocsp", "tsa")
    assert "RegCA serving" not in out  # refused before anything was served


def test_the_composed_app_and_the_ocsp_app_refuse_to_start(ocsp_swapped):
    ctx = ocsp_swapped
    with pytest.raises(KeyMismatch) as refused:
        create_wsgi(ctx.settings.home)
    assert_names_the_mismatch(refused.value.message, ctx, "ocsp", "tsa")
    with pytest.raises(KeyMismatch):
        ocsp_app(CaContext.open(ctx.settings.home))


def test_services_whose_keys_match_still_start_beside_the_mismatch(ocsp_swapped):
    home = ocsp_swapped.settings.home
    tsa_app(CaContext.open(home))
    create_signing(CaContext.open(home))


def test_healthz_is_503_and_names_the_keys_down(ocsp_swapped):
    response = Client(HealthApp(CaContext.open(ocsp_swapped.settings.home))).get("/healthz")
    body = json.loads(response.get_data())
    assert response.status_code == 503
    assert body == {"status": "unavailable", "database": "up", "hsm": "up", "keys": "down"}


def test_signing_with_the_mismatched_key_is_refused_too(ocsp_swapped):
    """Past start-up the same check guards each use: a responder built without the start-up
    check (the signer alone) still refuses to sign under the wrong certificate."""
    from ca.ocsp_signer import OcspSigner
    ctx = CaContext.open(ocsp_swapped.settings.home)
    with pytest.raises(KeyMismatch):
        OcspSigner(ctx).encoder("issuing")


@pytest.mark.parametrize("role,other", [("tsa", "seal"), ("seal", "tsa")])
def test_each_service_app_refuses_its_own_key_only(tmp_path, role, other):
    ctx = reissue_for_other_key(tmp_path / "home", role, other)
    with pytest.raises(KeyMismatch) as refused:
        APPS[role](CaContext.open(ctx.settings.home))
    assert_names_the_mismatch(refused.value.message, ctx, role, other)
    ocsp_app(CaContext.open(ctx.settings.home))  # its keys match: it starts


def test_the_command_line_refuses_an_issuing_ca_certificate_for_another_key(tmp_path):
    ctx = reissue_for_other_key(tmp_path / "home", "issuing", "seal")
    csr = tmp_path / "r.csr"
    csr.write_bytes(make_csr())
    subject = tmp_path / "s.json"
    subject.write_text(json.dumps(RESIDENT))
    done = run_cli(ctx.settings.home, "issue", "--profile", "resident-authentication",
                   "--csr", str(csr), "--subject", str(subject))
    assert done.code == 1 and done.out == ""
    assert len(done.err.strip().splitlines()) == 1 and "Traceback" not in done.err
    assert_names_the_mismatch(done.err.strip(), ctx, "issuing", "seal")


def test_a_home_whose_keys_match_starts(sqlite_ctx):
    sqlite_ctx.check_keys()
    create_wsgi(sqlite_ctx.settings.home)
    response = Client(HealthApp(CaContext.open(sqlite_ctx.settings.home))).get("/healthz")
    assert response.status_code == 200 and json.loads(response.get_data())["keys"] == "up"
