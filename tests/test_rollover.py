"""Service certificate rollover: a new HSM key and certificate per generation, taken up by every
running worker without a restart, the old certificate kept for validation (CONTRACT.md,
``regca rollover``), judged by ``openssl ts``, ``openssl ocsp`` and ``pdfsig``.

The TSA and seal cases serve a home in this process (the in-process server's workers are its
threads, one ``RoleKey`` per front as ``regca serve`` builds them) and roll over with the real
command; the OCSP case runs the real ``regca serve`` (gunicorn workers and the jobs process) on a
home made 50 days in the past, so the jobs process finds the responder past three quarters of
its life.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import time
from pathlib import Path

import pytest
from asn1crypto import tsp
from conftest import PINNED, RESIDENT, backends, fresh_database, make_csr, make_home, run_cli
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pyhanko.pdf_utils.reader import PdfFileReader
from signing_support import sample_pdf
from tsa_support import (
    free_port,
    make_query,
    openssl,
    post,
    regca_serve,
    server_workers,
    wsgi_thread,
)

from ca.clock import FixedClock
from ca.config import KeyConfig
from ca.context import CaContext
from ca.errors import NotFound
from ca.issuance import IssuanceRequest, Issuer
from ca.rolekeys import RECHECK
from ca.rollover import RENEW_AT, roll_over
from ca.store import service_certificates as generations_store
from ra.apikeys import create_api_key
from regca.scheduler import run_once
from regca.wsgi import create_app as create_wsgi

pytestmark = pytest.mark.hsm

# The contract: a rollover takes effect in every worker within 15 s.
SWITCH_WITHIN = 15.0


def wait_for(probe, what: str, within: float = SWITCH_WITHIN):
    """Call ``probe`` until it returns something true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within} s")
        time.sleep(0.25)


# -- the generation mechanism ----------------------------------------------------------------

def test_every_generation_gets_a_key_label_and_id_of_its_own():
    base = KeyConfig("seal", "online", "regca-seal", bytes.fromhex("05"), "ec-p256")
    assert base.generation(1) is base  # the configured key is the first generation
    second, jst = base.generation(2), base.generation(1, "0862011")
    assert (second.label, second.id.hex()) == ("regca-seal-g2", "050002")
    assert (jst.label, jst.id.hex()) == ("regca-seal-0862011-g1", "05" "00862011" "0001")
    labels = {base.generation(n, s).label for n in (1, 2, 3) for s in ("", "0862011", "0861011")}
    ids = {base.generation(n, s).id for n in (1, 2, 3) for s in ("", "0862011", "0861011")}
    assert len(labels) == len(ids) == 9
    with pytest.raises(ValueError, match="TERYT"):
        base.generation(1, "08620")


def test_a_fresh_home_has_generation_one_of_each_service_active(sqlite_ctx):
    with sqlite_ctx.db.reading() as s:
        rows = generations_store.generations(s)
    assert {(r.role, r.scope, r.generation, r.active) for r in rows} == {
        ("ocsp", "", 1, True), ("tsa", "", 1, True), ("seal", "", 1, True),
        ("issuing", "", 1, True)}  # the issuing CA's too (ca/issuing_cas.py)


def test_rollover_of_a_jst_seal_that_does_not_exist_is_a_clear_error(sqlite_ctx):
    home = sqlite_ctx.settings.home
    done = run_cli(home, "rollover", "seal", "--org", "0862011")
    assert done.code == 1 and done.err == "regca: error: no seal for JST 0862011\n"
    done = run_cli(home, "rollover", "tsa", "--org", "0862011")
    assert done.code == 1 and "only seals belong to a JST" in done.err
    done = run_cli(home, "rollover", "seal", "--org", "86")
    assert done.code == 1 and "7-digit TERYT" in done.err
    with sqlite_ctx.db.reading() as s:
        assert len(generations_store.generations(s)) == 4  # nothing changed
    with pytest.raises(NotFound):
        roll_over(sqlite_ctx, "seal", "0862011")


# -- the OCSP responder renews itself --------------------------------------------------------

@pytest.fixture
def aged(tmp_path):
    """A home whose clock the test moves (the jobs process's round runs in this process)."""
    clock = FixedClock(PINNED)
    ctx = make_home(tmp_path / "home", clock=clock)
    yield ctx, clock
    ctx.db.dispose()


def _responder(ctx: CaContext) -> generations_store.Generation:
    with ctx.db.reading() as s:
        return generations_store.active(s, "ocsp")


def test_the_jobs_round_renews_the_responder_past_three_quarters_of_its_life(aged):
    ctx, clock = aged
    first = x509.load_der_x509_certificate(_responder(ctx).der)
    life = first.not_valid_after_utc - first.not_valid_before_utc
    assert life == dt.timedelta(days=60)  # policies/profiles/ocsp-responder.toml
    assert x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.5") in [
        e.oid for e in first.extensions]  # id-pkix-ocsp-nocheck

    clock.advance(seconds=(life * RENEW_AT).total_seconds() - 3600)  # an hour before
    run_once(ctx)
    assert _responder(ctx).generation == 1

    clock.advance(hours=2)  # an hour past three quarters
    run_once(ctx)
    renewed = _responder(ctx)
    assert renewed.generation == 2 and renewed.serial != format(first.serial_number, "x")
    new = x509.load_der_x509_certificate(renewed.der)
    assert new.public_key() != first.public_key()  # a new key, not a re-certified one
    assert new.not_valid_before_utc == clock.now().replace(microsecond=0)
    # The pre-signed responses in the cache are the new responder's now.
    served = CaContext.open(ctx.settings.home, clock)
    from ca.services import ResponseStore
    store = ResponseStore(served.db)
    serial = format(first.serial_number, "x")
    der, _, _ = store.response(serial, "sha1")
    answer = ocsp.load_der_ocsp_response(der)
    assert answer.certificates == [new]
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD  # the old one stays good
    # The renewal is audited, by the system.
    done = run_cli(ctx.settings.home, "audit", "verify")
    assert done.code == 0, done.err


# -- the TSA and the seal in a served home ---------------------------------------------------

@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A home served over HTTP in this process, on the real clock, with what it signed before
    and after ``regca rollover tsa`` and ``regca rollover seal``."""
    tmp = tmp_path_factory.mktemp("rollover")
    port = free_port()
    ctx = make_home(tmp / "home", public_url=f"http://127.0.0.1:{port}")
    home = ctx.settings.home
    key = create_api_key(ctx, "eod-rollover", ["sign"], None)
    work = tmp / "work"
    work.mkdir()
    with wsgi_thread(create_wsgi(home), port) as base:  # its own context, the real clock
        before = {"token": _token(base, work, "old"), "pdf": _seal(base, key, work, "old")}
        assert run_cli(home, "export-ca", "--out", str(work / "before")).code == 0
        rolled = {}
        for service in ("tsa", "seal"):
            done = run_cli(home, "rollover", service)
            assert done.code == 0, done.err
            rolled[service] = time.monotonic()
        assert run_cli(home, "export-ca", "--out", str(work)).code == 0
        new_tsa = _serial(work / "tsa-g2.pem")
        after = {"token": wait_for(lambda: _token(base, work, "new", new_tsa),
                                   "a token of the new TSA key"),
                 "pdf": wait_for(lambda: _seal(base, key, work, "new",
                                               _serial(work / "seal-g2.pem")),
                                 "a seal of the new key")}
        waited = time.monotonic() - min(rolled.values())
    yield {"ctx": ctx, "work": work, "before": before, "after": after, "waited": waited}
    ctx.db.dispose()


def _serial(pem: Path) -> int:
    return x509.load_pem_x509_certificate(pem.read_bytes()).serial_number


def _token(base: str, work: Path, name: str, signer: int | None = None) -> Path | None:
    """A token for ``name``.txt (no certificate in it: the verifier must be given the right
    one); None when ``signer`` is given and another key signed it."""
    query = make_query(work, name, "-sha256")
    status, _, body = post(base + "/tsa", query.read_bytes())
    assert status == 200
    signed = tsp.TimeStampResp.load(body)["time_stamp_token"]["content"]
    serial = signed["signer_infos"][0]["sid"].chosen["serial_number"].native
    if signer is not None and serial != signer:
        return None
    (work / f"{name}.tsr").write_bytes(body)
    return work / f"{name}.tsr"


def _seal(base: str, key: str, work: Path, name: str, signer: int | None = None
          ) -> Path | None:
    status, _, body = post(base + "/api/v1/sign/pdf?level=B-B", sample_pdf(), "application/pdf",
                           {"Authorization": f"Bearer {key}"})
    assert status == 200, body[:300]
    cert = PdfFileReader(io.BytesIO(body)).embedded_signatures[0].signer_cert
    if signer is not None and cert.serial_number != signer:
        return None
    (work / f"{name}.pdf").write_bytes(body)
    return work / f"{name}.pdf"


def _ts_verify(work: Path, name: str, tsa_pem: str) -> subprocess.CompletedProcess:
    return openssl("ts", "-verify", "-in", f"{name}.tsr", "-data", f"{name}.txt",
                   "-CAfile", "chain.pem", "-untrusted", tsa_pem, cwd=work)


def test_every_worker_switched_within_the_contracts_15_seconds(live):
    assert live["waited"] < SWITCH_WITHIN + RECHECK  # the probes' own time on top


def test_rollover_tsa_new_tokens_verify_with_the_new_certificate(live):
    work = live["work"]
    done = _ts_verify(work, "new", "tsa-g2.pem")
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
    # ...and with the new one only: the token was signed by the new key.
    assert _ts_verify(work, "new", "tsa-g1.pem").returncode != 0


def test_rollover_tsa_old_tokens_still_verify_with_the_old_certificate(live):
    work = live["work"]
    done = _ts_verify(work, "old", "tsa-g1.pem")
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
    assert _ts_verify(work, "old", "tsa-g2.pem").returncode != 0


def test_export_ca_keeps_the_old_certificates_and_names_the_new_current(live):
    work = live["work"]
    assert (work / "tsa.pem").read_bytes() == (work / "tsa-g2.pem").read_bytes()
    assert (work / "seal.pem").read_bytes() == (work / "seal-g2.pem").read_bytes()
    assert (work / "tsa-g1.pem").read_bytes() == (work / "before" / "tsa.pem").read_bytes()
    assert (work / "seal-g1.pem").read_bytes() == (work / "before" / "seal.pem").read_bytes()
    assert (work / "ocsp.pem").read_bytes() == (work / "ocsp-g1.pem").read_bytes()  # untouched


def _pdfsig(path: Path) -> str:
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout


@pytest.mark.parametrize("name, generation", [("old", 1), ("new", 2)])
def test_rollover_seal_old_and_new_sealed_pdfs_are_both_valid_in_pdfsig(live, name, generation):
    work = live["work"]
    out = _pdfsig(work / f"{name}.pdf")
    assert "Signature Validation: Signature is Valid." in out, out
    signer = PdfFileReader(io.BytesIO((work / f"{name}.pdf").read_bytes())
                           ).embedded_signatures[0].signer_cert
    assert signer.serial_number == _serial(work / f"seal-g{generation}.pem")


def test_the_repository_serves_every_generation(live):
    import urllib.request
    ctx, work = live["ctx"], live["work"]
    with wsgi_thread(create_wsgi(ctx.settings.home)) as base:
        for name in ("tsa-g1", "tsa-g2", "seal-g1", "seal-g2", "ocsp-g1"):
            with urllib.request.urlopen(f"{base}/ca/{name}.crt", timeout=10) as r:
                der = r.read()
            assert x509.load_der_x509_certificate(der) == x509.load_pem_x509_certificate(
                (work / f"{name}.pem").read_bytes())
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/ca/tsa-g3.crt", timeout=10)
        assert missing.value.code == 404


def test_each_rollover_is_audited(live):
    from ca.store.audit import events
    ctx = live["ctx"]
    with ctx.db.reading() as s:
        found = [(e.action, e.object) for e in reversed(list(events(s)))
                 if e.action in ("service.activate", "key.generate")
                 and e.actor == "operator:cli"]
    assert found == [("key.generate", "key:tsa"), ("service.activate", "service:tsa"),
                     ("key.generate", "key:seal"), ("service.activate", "service:seal")]
    assert run_cli(ctx.settings.home, "audit", "verify").code == 0


# -- every gunicorn worker and the jobs process ----------------------------------------------

@pytest.fixture(scope="module")
def aged_served(tmp_path_factory):
    """``regca serve`` (2 gunicorn workers, jobs every second) on a home made 50 days ago: its
    OCSP responder certificate (60 days) is past three quarters of its life when it starts."""
    tmp = tmp_path_factory.mktemp("aged")
    made = FixedClock(dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
                      - dt.timedelta(days=50))
    ctx = make_home(tmp / "home", clock=made)
    subscriber = Issuer(ctx).issue(IssuanceRequest(
        "resident-authentication", make_csr(), dict(RESIDENT), "test")).certificate
    certs = tmp / "certs"
    assert run_cli(ctx.settings.home, "export-ca", "--out", str(certs)).code == 0
    (certs / "subscriber.pem").write_bytes(subscriber.public_bytes(Encoding.PEM))
    with regca_serve(ctx.settings.home, workers=2,
                  env={"REGCA_REVOCATION_JOBS_INTERVAL": "1"}) as (base, proc):
        yield {"ctx": ctx, "base": base, "certs": certs, "proc": proc}
    ctx.db.dispose()


def _ask(aged_served, cert: str, work: Path, name: str, *extra: str) -> tuple[str, Path]:
    c = aged_served["certs"]
    out = work / f"{name}.der"
    done = openssl("ocsp", "-issuer", str(c / "issuing.pem"), "-cert", str(c / cert),
                   "-url", aged_served["base"] + "/ocsp", "-CAfile", str(c / "chain.pem"),
                   "-respout", str(out), *extra, cwd=work)
    return done.stdout + done.stderr, out


def test_served_responses_come_from_the_renewed_responder_in_every_worker(aged_served, tmp_path):
    ctx, certs = aged_served["ctx"], aged_served["certs"]
    assert len(server_workers(aged_served["proc"])) == 2
    old = x509.load_pem_x509_certificate((certs / "ocsp.pem").read_bytes())

    def renewed():
        with ctx.db.reading() as s:
            active = generations_store.active(s, "ocsp")
        return active if active.generation == 2 else None

    active = wait_for(renewed, "the jobs process renewing the responder", within=60)
    new = x509.load_der_x509_certificate(active.der)
    (tmp_path / "new.pem").write_bytes(new.public_bytes(Encoding.PEM))

    def signer_of(path: Path) -> x509.Certificate:
        return ocsp.load_der_ocsp_response(path.read_bytes()).certificates[0]

    def all_new(extra) -> bool:  # cached (no nonce) and signed on demand (nonce) answers
        _, out = _ask(aged_served, "subscriber.pem", tmp_path, "probe", *extra)
        return signer_of(out) == new

    wait_for(lambda: all_new(["-no_nonce"]) and all_new([]), "answers of the new responder",
             within=SWITCH_WITHIN + 2 * RECHECK + 5)
    # Now many answers, each on a connection of its own, so both workers answer: every one is
    # signed by the new responder and verifies against it, with and without a nonce; the
    # subscriber's and the old responder's own certificates stay good.
    for i in range(12):
        cert = ("subscriber.pem", "ocsp.pem")[i % 2]
        extra = ["-no_nonce"] if i % 3 else []
        text, out = _ask(aged_served, cert, tmp_path, f"r{i}", "-verify_other",
                         str(tmp_path / "new.pem"), *extra)
        assert "Response verify OK" in text and f"{certs / cert}: good" in text, text
        assert signer_of(out) == new and signer_of(out) != old
        answer = ocsp.load_der_ocsp_response(out.read_bytes())
        new.public_key().verify(answer.signature, answer.tbs_response_bytes,
                                ec.ECDSA(answer.signature_hash_algorithm))


# -- a home made before generations were recorded --------------------------------------------

@pytest.mark.parametrize("backend", backends())
def test_migration_records_generation_one_of_an_older_home(backend, tmp_path):
    """Migration 0006 on a home whose schema predates it: each service's newest certificate
    becomes its active generation 1 under the key regca.toml configures, and it rolls over."""
    from sqlalchemy import create_engine, text
    with fresh_database(backend, tmp_path) as url:
        ctx = make_home(tmp_path / "home", url)
        engine = create_engine(url)
        with engine.begin() as conn:  # back to the schema before 0006
            conn.execute(text("DROP TABLE service_certificates"))
            conn.execute(text("DELETE FROM alembic_version WHERE version_num IN "
                              "('0006_service_certificates', '0022')"))
        engine.dispose()
        ctx.db.migrate()
        with ctx.db.reading() as s:
            rows = generations_store.generations(s)
        assert {(r.role, r.generation, r.active, r.key_label) for r in rows} == {
            ("ocsp", 1, True, None), ("tsa", 1, True, None), ("seal", 1, True, None),
            ("issuing", 1, True, None)}  # by 0022, which follows 0006
        fresh = CaContext.open(ctx.settings.home, ctx.clock)
        for role, profile in (("ocsp", "ocsp-responder"), ("tsa", "tsa"), ("seal", "seal")):
            assert fresh.key_pair(role).certificate == fresh.certificate_of(profile)
        rolled = roll_over(fresh, "tsa", actor="test")
        assert rolled.generation == 2 and rolled.key_label == "regca-tsa-g2"
        ctx.db.dispose()
        fresh.db.dispose()


def test_an_interrupted_rollover_uses_the_key_it_left_and_a_racing_one_is_refused(tmp_path):
    from ca.errors import Conflict
    from ca.issuance import IssuedCertificate
    from ca.rollover import record_generation
    ctx = make_home(tmp_path / "home")
    # A rollover stopped right after generating its key (generation 2, nothing recorded).
    key = ctx.hsm.config.key("tsa").generation(2)
    left = ctx.hsm.with_key("tsa", key).generate_key("tsa")
    rolled = roll_over(ctx, "tsa", actor="test")
    assert rolled.generation == 2 and rolled.certificate.public_key() == left
    # Another rollover that also made generation 2 meanwhile is refused, and changes nothing.
    issued = IssuedCertificate(rolled.serial, rolled.certificate, [])
    with pytest.raises(Conflict, match="generation 2"):
        record_generation(ctx, "tsa", "", 2, issued, "test", key)
    with ctx.db.reading() as s:
        assert [(g.generation, g.active) for g in generations_store.generations(s, "tsa")] == [
            (1, False), (2, True)]
    ctx.db.dispose()
