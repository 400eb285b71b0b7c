"""A root that is really offline (CP/CPS §5.2.2, §6.2.8): no root PIN in the home after
`regca init`, the background jobs never open a session on the root token, and only the audited
ceremony commands, given the PIN by the operator, sign what the root signs, valid until past
the next ceremony."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PINNED, ROOT_PIN, make_home, run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from revocation_support import issue, openssl
from werkzeug.test import Client

from ca.ceremony import next_root_ceremony
from ca.clock import FixedClock
from ca.context import CaContext
from ca.crl import crl_path
from ca.errors import TokenOffline
from ca.store import audit as audit_store
from ca.store import ocsp as ocsp_store

pytestmark = pytest.mark.hsm

SPY = Path("/usr/lib/x86_64-linux-gnu/pkcs11-spy.so")
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
CEREMONY_ENV = {"REGCA_ROOT_PIN": ROOT_PIN}


def _files_holding(home: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p.relative_to(home)) for p in home.rglob("*")
            if p.is_file() and needle in p.read_bytes()]


def _printed(out: str, what: str) -> str:
    found = re.search(rf"{what}: ([0-9a-f]+)", out)
    assert found, out
    return found.group(1)


def _ceremonies(ctx: CaContext) -> list:
    with ctx.db.reading() as s:
        return list(audit_store.events(s, object_="ca:root", action="root.ceremony"))


# -- no root PIN in the home --------------------------------------------------------------------

def test_init_hands_the_root_pin_once_and_no_file_of_the_home_holds_it(tmp_path):
    home = tmp_path / "home"
    done = run_cli(home, "init", "--demo", env={"REGCA_ROOT_PIN": ""})
    assert done.code == 0, done.err
    pin, so_pin = _printed(done.out, "root token PIN"), _printed(done.out, "root token SO PIN")
    online_pin = (home / "hsm" / "online.pin").read_text().strip()
    assert _files_holding(home, online_pin)  # the scan finds a PIN that is there
    assert _files_holding(home, pin) == [] and _files_holding(home, so_pin) == []
    assert not (home / "hsm" / "root.pin").exists()
    assert "REGCA_PIN_ROOT" not in (home / "regca.toml").read_text()
    # The PIN printed is the one that opens the root token.
    assert run_cli(home, "ceremony", "root-crl", env={"REGCA_ROOT_PIN": pin}).code == 0
    assert _files_holding(home, pin) == []  # nor after a ceremony
    assert run_cli(home, "ceremony", "root-crl",
                   env={"REGCA_ROOT_PIN": online_pin}).code == 1


def test_init_takes_the_root_pin_from_the_environment_and_prints_it_nowhere(tmp_path):
    home = tmp_path / "home"
    pin = "Ceremonia-2026-" + os.urandom(4).hex()
    done = run_cli(home, "init", env={"REGCA_ROOT_PIN": pin})
    assert done.code == 0, done.err
    assert pin not in done.out + done.err and "root token PIN" not in done.out
    assert _files_holding(home, pin) == []
    assert run_cli(home, "ceremony", "root", env={"REGCA_ROOT_PIN": pin}).code == 0


# -- the jobs never touch the root --------------------------------------------------------------

def _spy_sessions(log: str) -> tuple[set[str], list[str]]:
    """From a pkcs11-spy log: the token labels C_OpenSession was called on, and every
    function called."""
    labels: dict[str, str] = {}
    opened, calls = [], []
    for block in re.split(r"\n(?=\d+: C_)", log):
        head = re.match(r"\d+: (C_\w+)", block.strip())
        if not head:
            continue
        calls.append(head.group(1))
        slot = re.search(r"\[in\] slotID = (0x[0-9a-f]+)", block)
        if head.group(1) == "C_GetTokenInfo" and slot:
            label = re.search(r"label:\s+'([^']*)'", block)
            if label:
                labels[slot.group(1)] = label.group(1).strip()
        elif head.group(1) == "C_OpenSession" and slot:
            opened.append(slot.group(1))
    return {labels.get(s, s) for s in opened}, calls


@pytest.mark.skipif(not SPY.exists(), reason="OpenSC's pkcs11-spy not installed")
def test_jobs_process_never_opens_a_session_on_the_root_token(tmp_path):
    """The jobs run in a process of their own with every PKCS#11 call logged by OpenSC's
    pkcs11-spy, months after the ceremony, with REGCA_ROOT_PIN even set in their environment:
    they sign the issuing CA's CRLs and OCSP responses, and never open a session on the root's
    token. The root's CRL and OCSP answers are still served, those of the ceremony."""
    ctx = make_home(tmp_path / "home")
    home = ctx.settings.home
    serial, _, _ = issue(ctx, tmp_path)
    with ctx.db.transaction() as s:
        ocsp_store.invalidate(s, serial)
    for delta in (False, True):
        crl_path(ctx.settings.crl_dir, "issuing", delta).unlink(missing_ok=True)
    root_crl = crl_path(ctx.settings.crl_dir, "root", False).read_bytes()
    config = home / "regca.toml"
    config.write_text(config.read_text().replace(f'module = "{SOFTHSM}"', f'module = "{SPY}"'))
    log = tmp_path / "pkcs11-spy.log"
    later = PINNED + dt.timedelta(days=120)  # past half the root answers' validity
    script = ("import datetime as dt, sys\nfrom pathlib import Path\n"
              "from ca.clock import FixedClock\nfrom ca.context import CaContext\n"
              "from regca.scheduler import run_once\n"
              f"run_once(CaContext.open(Path(sys.argv[1]), FixedClock(dt.datetime.fromisoformat("
              f"'{later.isoformat()}'))))\n")
    env = dict(os.environ, PKCS11SPY=SOFTHSM, PKCS11SPY_OUTPUT=str(log), **CEREMONY_ENV)
    done = subprocess.run([sys.executable, "-c", script, str(home)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "failed" not in done.stderr, done.stderr
    opened, calls = _spy_sessions(log.read_text())
    assert opened == {"RegCA Online"} and "C_Sign" in calls  # the jobs did sign
    assert ROOT_PIN not in log.read_text()  # no log-in was even tried with the root's PIN
    # The issuing CA's CRLs and OCSP response are back; the root's are the ceremony's.
    assert all(crl_path(ctx.settings.crl_dir, "issuing", d).exists() for d in (False, True))
    with ctx.db.reading() as s:
        assert ocsp_store.cached(s, serial, "sha1") is not None
    config.write_text(config.read_text().replace(f'module = "{SPY}"', f'module = "{SOFTHSM}"'))
    _assert_root_status_served(home, root_crl)


def _assert_root_status_served(home: Path, root_crl: bytes) -> None:
    from regca.wsgi import create_app
    ctx = CaContext.open(home, FixedClock(PINNED))
    client = Client(create_app(home, ctx))
    assert client.get("/crl/root.crl").data == root_crl
    issuing, root = ctx.certificate_of("issuing-ca"), ctx.certificate_of("root-ca")
    for algorithm in (hashes.SHA1(), hashes.SHA256()):
        der = (ocsp.OCSPRequestBuilder().add_certificate(issuing, root, algorithm).build()
               .public_bytes(Encoding.DER))
        answer = ocsp.load_der_ocsp_response(client.post(
            "/ocsp", data=der, headers={"Content-Type": "application/ocsp-request"}).data)
        assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert answer.next_update_utc - answer.this_update_utc == ctx.ceremony_policy.validity


def test_a_service_context_cannot_sign_as_root_even_after_a_ceremony_in_its_process(tmp_path):
    ctx = make_home(tmp_path / "home")
    assert run_cli(ctx.settings.home, "ceremony", "root-crl", env=CEREMONY_ENV).code == 0
    fresh = CaContext.open(ctx.settings.home, FixedClock(PINNED))
    with pytest.raises(TokenOffline, match="only a root ceremony"):
        fresh.key_pair("root")
    assert fresh.hsm.ping()  # the offline root is not a fault of the HSM (/healthz)
    assert fresh.online_cas() == ["issuing"]


# -- the ceremonies -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ceremony_home(tmp_path_factory):
    ctx = make_home(tmp_path_factory.mktemp("ceremony") / "home")
    yield ctx
    ctx.db.dispose()


def test_root_ceremony_signs_for_the_whole_interval_and_is_audited(ceremony_home):
    ctx = ceremony_home
    before = len(_ceremonies(ctx))
    done = run_cli(ctx.settings.home, "ceremony", "root", env=CEREMONY_ENV)
    assert done.code == 0, done.err
    policy = ctx.ceremony_policy
    crl = x509.load_der_x509_crl(crl_path(ctx.settings.crl_dir, "root", False).read_bytes())
    assert crl.next_update_utc - crl.last_update_utc == policy.validity
    assert crl.is_signature_valid(ctx.certificate_of("root-ca").public_key())
    due = next_root_ceremony(ctx)
    assert due.ocsp_missing == 0
    assert due.due == crl.last_update_utc + policy.interval
    assert f"next root ceremony due {due.due.date().isoformat()}" in done.out
    event = _ceremonies(ctx)[0]
    assert len(_ceremonies(ctx)) == before + 1 and event.outcome == "success"
    assert event.actor == "operator:ceremony" and "crl #" in event.details
    assert ROOT_PIN not in event.details


@pytest.mark.parametrize("command", ["root", "root-crl", "root-ocsp"])
def test_wrong_root_pin_is_refused_in_one_line_signs_nothing_and_is_audited(ceremony_home,
                                                                             command):
    ctx = ceremony_home
    path = crl_path(ctx.settings.crl_dir, "root", False)
    crl_before, count = path.read_bytes(), len(_ceremonies(ctx))
    done = run_cli(ctx.settings.home, "ceremony", command,
                   env={"REGCA_ROOT_PIN": "0000" + ROOT_PIN[4:]})
    assert done.code == 1 and done.err == "regca: error: wrong PIN for token 'RegCA Root'\n"
    assert path.read_bytes() == crl_before
    event = _ceremonies(ctx)[0]
    assert len(_ceremonies(ctx)) == count + 1 and event.outcome == "failure"


def test_ceremony_without_a_pin_and_without_a_terminal_is_refused(ceremony_home):
    done = run_cli(ceremony_home.settings.home, "ceremony", "root", env={"REGCA_ROOT_PIN": ""})
    assert done.code == 1 and "REGCA_ROOT_PIN" in done.err


def test_the_pin_is_never_a_command_line_argument(ceremony_home):
    with pytest.raises(SystemExit):
        run_cli(ceremony_home.settings.home, "ceremony", "root", "--pin", ROOT_PIN)


def test_only_a_ceremony_refreshes_the_roots_ocsp_answers(ceremony_home):
    done = run_cli(ceremony_home.settings.home, "ocsp", "refresh", "--ca", "root")
    assert done.code == 1 and "regca ceremony root-ocsp" in done.err
    done = run_cli(ceremony_home.settings.home, "ceremony", "root-ocsp", env=CEREMONY_ENV)
    assert done.code == 0 and "root OCSP responses signed: 4" in done.out


def test_openssl_crl_check_all_accepts_a_chain_with_the_ceremony_root_crl(ceremony_home,
                                                                          tmp_path):
    ctx = ceremony_home
    assert run_cli(ctx.settings.home, "ceremony", "root-crl", env=CEREMONY_ENV).code == 0
    assert run_cli(ctx.settings.home, "crl", "--ca", "issuing").code == 0
    _, _, good = issue(ctx, tmp_path, "good")
    revoked_serial, _, revoked = issue(ctx, tmp_path, "revoked")
    assert run_cli(ctx.settings.home, "revoke", revoked_serial, "--reason",
                   "keyCompromise").code == 0
    assert run_cli(ctx.settings.home, "crl", "--ca", "issuing").code == 0
    crls = tmp_path / "crls.pem"
    crls.write_text("".join(
        openssl("crl", "-inform", "DER", "-in",
                str(crl_path(ctx.settings.crl_dir, ca, False))).stdout
        for ca in ("root", "issuing")))
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in ctx.chain()))
    args = ["verify", "-crl_check_all", "-CAfile", str(chain), "-CRLfile", str(crls)]
    assert openssl(*args, str(good)).stdout.strip().endswith("OK")
    done = openssl(*args, str(revoked), check=False)
    assert done.returncode != 0 and "certificate revoked" in done.stdout + done.stderr
    # Without the root's CRL, -crl_check_all cannot check the issuing CA: the root's counts.
    only_issuing = tmp_path / "issuing.pem"
    only_issuing.write_text(openssl("crl", "-inform", "DER", "-in", str(
        crl_path(ctx.settings.crl_dir, "issuing", False))).stdout)
    done = openssl("verify", "-crl_check_all", "-CAfile", str(chain), "-CRLfile",
                   str(only_issuing), str(good), check=False)
    assert done.returncode != 0 and "unable to get certificate CRL" in done.stdout + done.stderr


def test_next_ceremony_is_due_at_once_when_a_root_answer_is_missing(ceremony_home):
    ctx = ceremony_home
    issuing = format(ctx.certificate_of("issuing-ca").serial_number, "x")
    with ctx.db.transaction() as s:
        ocsp_store.invalidate(s, issuing)
    due = next_root_ceremony(ctx)
    assert due.ocsp_missing == 2 and due.overdue(ctx.now())
    assert run_cli(ctx.settings.home, "ceremony", "root-ocsp", env=CEREMONY_ENV).code == 0
    assert not next_root_ceremony(ctx).overdue(ctx.now())


def test_cps_quotes_the_ceremony_interval_of_the_policy_file():
    """One source (DESIGN.md, "Policy as data"): policies/ceremonies.toml and CP/CPS §5.2.2."""
    from ca.ceremony_policy import load_ceremony_policy
    from ca.config import POLICIES_DIR
    policy = load_ceremony_policy(POLICIES_DIR)
    section = (POLICIES_DIR / "cps.md").read_text().split("### 5.2.2", 1)[1].split("###", 1)[0]
    assert f"at least every {policy.interval.days} days" in section
    assert f"valid for {policy.validity.days} days" in section
    assert f"margin of {policy.margin.days} days" in section
