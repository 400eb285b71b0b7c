"""Issuing-CA rollover end to end (CP/CPS §5.6, hsm-config/KEY-CEREMONY.md): a certificate
issued under issuing CA 1; `regca ceremony issuing-ca` signs CA 2 at a root ceremony while
`regca serve` runs; its workers issue under CA 2 without a restart; each chain verifies with its
own CRL (`openssl verify -crl_check_all`) and its own OCSP answers (`openssl ocsp`); CA 1 still
publishes after its retirement, so a revocation of its certificate is reported by both; a
time-stamp made under CA 1 still verifies (`openssl ts -verify`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from pathlib import Path

import pytest
from conftest import ROOT_PIN, STAFF, backends, fresh_database, make_csr, make_home, run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from revocation_support import http, issue, openssl, serve_home, stop
from tsa_support import make_query

from ca.ceremony import root_ceremony
from ca.clock import FixedClock
from ca.context import CaContext
from ca.profiles import load_profiles
from ca.rolekeys import RECHECK
from ca.store import audit as audit_store
from ra.apikeys import create_api_key
from regca.status_report import DEFAULT_WINDOWS, build_report, longest_issued

pytestmark = pytest.mark.hsm

CEREMONY_ENV = {"REGCA_ROOT_PIN": ROOT_PIN}


def _pem(path: Path, der: bytes) -> Path:
    path.write_bytes(x509.load_der_x509_crl(der).public_bytes(Encoding.PEM))
    return path


def _crl(base: str, name: str, out: Path) -> Path:
    status, _, body = http(f"{base}/crl/{name}.crl")
    assert status == 200, (name, status)
    return _pem(out / f"{name}.crl.pem", body)


def _issue_over_ra(base: str, key: str) -> dict:
    status, _, body = http(f"{base}/api/v1/certificates", json.dumps(
        {"profile": "staff-signing", "csr": make_csr().decode(), "subject": dict(STAFF)}
    ).encode(), {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert status == 201, body
    return json.loads(body)


def _timestamp(base: str, work: Path, name: str) -> None:
    query = make_query(work, name, "-sha256", "-cert")
    status, _, reply = http(f"{base}/tsa", query.read_bytes(),
                            {"Content-Type": "application/timestamp-query"})
    assert status == 200
    (work / f"{name}.tsr").write_bytes(reply)


@dataclasses.dataclass
class Rolled:
    base: str
    home: Path
    work: Path
    certs: Path  # regca export-ca after the ceremony
    old_serial: str
    old_pem: Path
    new_serial: str
    new_pem: Path
    ceremony_out: str


@pytest.fixture(scope="module", params=backends())
def rolled(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"issuing-rollover-{request.param}")
    with fresh_database(request.param, tmp) as url:
        yield from _roll(tmp, url)


def _roll(tmp: Path, database_url: str | None):
    served = serve_home(tmp, database_url)
    try:
        ctx, work = served.ctx, tmp / "work"
        work.mkdir()
        api_key = create_api_key(ctx, "rejestracja ZG", ["issue", "revoke"], "0862011")
        # Under CA 1: a certificate, and a time-stamp from the served TSA.
        old_serial, _, old_pem = issue(ctx, work, "old")
        _timestamp(served.base, work, "old")
        before = _issue_over_ra(served.base, api_key)  # the workers' RA signs with CA 1
        assert x509.load_pem_x509_certificate(before["certificate"].encode()).issuer == \
            ctx.certificate_of("issuing-ca").subject

        done = run_cli(served.home, "ceremony", "issuing-ca", env=CEREMONY_ENV)
        assert done.code == 0, done.err

        # The workers of the running server follow within RECHECK seconds, no restart.
        switched = time.monotonic() + RECHECK + 1
        while True:
            new = _issue_over_ra(served.base, api_key)
            cert = x509.load_pem_x509_certificate(new["certificate"].encode())
            if "G2" in cert.issuer.rfc4514_string() or time.monotonic() > switched + RECHECK:
                break
            time.sleep(0.5)
        time.sleep(max(0.0, switched - time.monotonic()))
        issuers = {x509.load_pem_x509_certificate(
            _issue_over_ra(served.base, api_key)["certificate"].encode()).issuer
            for _ in range(6)}  # spread over the workers: each one issues under CA 2 now
        assert "G2" in cert.issuer.rfc4514_string() and issuers == {cert.issuer}, issuers
        new_pem = work / "new.pem"
        new_pem.write_text(new["certificate"])
        certs = tmp / "certs"
        assert run_cli(served.home, "export-ca", "--out", str(certs)).code == 0
        yield Rolled(served.base, served.home, work, certs, old_serial, old_pem, new["serial"],
                     new_pem, done.out)
    finally:
        stop(served.process)
        served.ctx.db.dispose()


def _verify(r: Rolled, cert: Path, chain: str, crl: str, check: bool = True):
    return openssl("verify", "-crl_check_all", "-CAfile", str(r.certs / "root.pem"),
                   "-untrusted", str(r.certs / chain),
                   "-CRLfile", str(_crl(r.base, "root", r.work)),
                   "-CRLfile", str(_crl(r.base, crl, r.work)), str(cert), check=check)


def _ocsp(r: Rolled, cert: Path, generation: int) -> str:
    done = openssl("ocsp", "-issuer", str(r.certs / f"issuing-g{generation}.pem"),
                   "-cert", str(cert), "-url", f"{r.base}/ocsp", "-no_nonce",
                   "-CAfile", str(r.certs / "root.pem"),
                   "-verify_other", str(r.certs / f"chain-issuing-g{generation}.pem"))
    assert "Response verify OK" in done.stderr, done.stderr
    return done.stdout


def test_new_certificates_come_from_the_new_issuing_ca_each_chain_with_its_own_urls(rolled):
    old = x509.load_pem_x509_certificate(rolled.old_pem.read_bytes())
    new = x509.load_pem_x509_certificate(rolled.new_pem.read_bytes())
    g1 = x509.load_pem_x509_certificate((rolled.certs / "issuing-g1.pem").read_bytes())
    g2 = x509.load_pem_x509_certificate((rolled.certs / "issuing-g2.pem").read_bytes())
    assert old.issuer == g1.subject and new.issuer == g2.subject and g1.subject != g2.subject
    assert g1.public_key() != g2.public_key()
    # export-ca's issuing.pem and chain.pem are the issuing CA of new certificates.
    assert (rolled.certs / "issuing.pem").read_bytes() == (
        rolled.certs / "issuing-g2.pem").read_bytes()

    def urls(cert):
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        return ([n.value for dp in cdp for n in dp.full_name],
                [d.access_location.value for d in aia])
    assert urls(old) == ([f"{rolled.base}/crl/issuing.crl"],
                         [f"{rolled.base}/ocsp", f"{rolled.base}/ca/issuing.crt"])
    assert urls(new) == ([f"{rolled.base}/crl/issuing-g2.crl"],
                         [f"{rolled.base}/ocsp", f"{rolled.base}/ca/issuing-g2.crt"])
    # The repository serves both CA certificates at their AIA URLs.
    for name, cert in (("issuing", g1), ("issuing-g2", g2)):
        status, _, body = http(f"{rolled.base}/ca/{name}.crt")
        assert status == 200 and body == cert.public_bytes(Encoding.DER)


def test_both_chains_verify_with_their_own_crls_then_the_old_one_is_revoked(rolled):
    assert "OK" in _verify(rolled, rolled.old_pem, "chain-issuing-g1.pem", "issuing").stdout
    assert "OK" in _verify(rolled, rolled.new_pem, "chain-issuing-g2.pem", "issuing-g2").stdout
    # Against the other CA's CRL the chain is not complete: each chain has its own.
    wrong = _verify(rolled, rolled.old_pem, "chain-issuing-g1.pem", "issuing-g2", check=False)
    assert wrong.returncode != 0 and "unable to get certificate CRL" in wrong.stdout + \
        wrong.stderr
    assert "good" in _ocsp(rolled, rolled.old_pem, 1).split(": ", 1)[1]

    done = run_cli(rolled.home, "revoke", rolled.old_serial, "--reason", "keyCompromise")
    assert done.code == 0, done.err
    assert run_cli(rolled.home, "crl", "--ca", "issuing").code == 0  # the retired CA signs
    revoked = _verify(rolled, rolled.old_pem, "chain-issuing-g1.pem", "issuing", check=False)
    assert revoked.returncode != 0 and "certificate revoked" in revoked.stdout + revoked.stderr
    answer = _ocsp(rolled, rolled.old_pem, 1)
    assert f"{rolled.old_pem}: revoked" in answer and "Reason: keyCompromise" in answer
    # The new CA's certificate is untouched.
    assert "OK" in _verify(rolled, rolled.new_pem, "chain-issuing-g2.pem", "issuing-g2").stdout
    assert f"{rolled.new_pem}: good" in _ocsp(rolled, rolled.new_pem, 2)


def test_a_timestamp_made_under_the_old_issuing_ca_still_verifies(rolled):
    done = openssl("ts", "-verify", "-in", str(rolled.work / "old.tsr"),
                   "-queryfile", str(rolled.work / "old.tsq"),
                   "-CAfile", str(rolled.certs / "root.pem"),
                   "-untrusted", str(rolled.certs / "chain-issuing-g1.pem"))
    assert "Verification: OK" in done.stdout


def test_the_ceremony_is_audited_and_status_shows_both_cas(rolled):
    assert "issuing CA issuing-g2 (generation 2)" in rolled.ceremony_out
    ctx = CaContext.open(rolled.home)
    try:
        with ctx.db.reading() as s:
            ceremony = next(audit_store.events(s, object_="ca:root", action="root.ceremony"))
            activated = list(audit_store.events(s, object_="ca:issuing-g2",
                                                action="ca.activate"))
        assert ceremony.outcome == "success"
        operations = json.loads(ceremony.details)["operations"]
        assert any(op.startswith("issuing-ca issuing-g2") for op in operations), operations
        assert len(activated) == 1 and json.loads(activated[0].details)["previous"] == "issuing"
        lines = {c.name: c for c in build_report(ctx).certificates}
        assert lines["issuing"].state == "retired" and lines["issuing-g2"].state == "ok"
        assert ROOT_PIN not in rolled.ceremony_out
    finally:
        ctx.db.dispose()


def _problems_at(home: Path, at: dt.datetime) -> list[str]:
    ctx = CaContext.open(home, FixedClock(at))
    try:
        return build_report(ctx).problems
    finally:
        ctx.db.dispose()


def test_status_warns_when_the_issuing_ca_can_no_longer_cover_a_full_lifetime(rolled):
    ctx = CaContext.open(rolled.home)
    try:
        end = ctx.certificate_of("issuing-ca").not_valid_after_utc
        cover = end - dt.timedelta(days=longest_issued(ctx))
    finally:
        ctx.db.dispose()
    window = dt.timedelta(days=90)  # ca_warning_days by default
    def about_certificates(at, name):  # CRLs a year ahead are stale: not what is tested here
        return [p for p in _problems_at(rolled.home, at)
                if p.startswith((f"{name} CA certificate", f"{name} certificate"))]
    assert not about_certificates(cover - window - dt.timedelta(days=1), "issuing-g2")
    late = about_certificates(cover - window + dt.timedelta(days=1), "issuing-g2")
    assert len(late) == 1 and "regca ceremony issuing-ca" in late[0], late
    # The retired CA nearing its own end is no problem: it only publishes.
    assert not about_certificates(end - dt.timedelta(days=10), "issuing")


def test_the_cps_and_the_ceremony_guide_quote_the_cadence_the_profiles_give():
    """One source (DESIGN.md, "Policy as data"): the issuing CA's validity and the longest
    certificate it issues decide when the next issuing-CA ceremony is due; the documents say
    the same numbers, or this fails."""
    root = Path(__file__).resolve().parents[1]
    profiles = load_profiles(root / "policies")
    ca_days = profiles.get("issuing-ca").validity_days
    longest = max(p.validity_days for p in profiles if p.issuer == "issuing")
    latest = ca_days - longest - DEFAULT_WINDOWS["ca_warning_days"]
    def text(path: str) -> str:  # whitespace as one space: lines wrap anywhere
        return " ".join((root / path).read_text().split())
    cps = text("policies/cps.md")
    section = cps[cps.index("### 5.6 Key changeover"):cps.index("## 6.")]
    assert f"valid for {ca_days} days" in section and f"being {longest} days" in section
    assert f"at the latest {latest} days" in section
    guide = text("hsm-config/KEY-CEREMONY.md")
    assert f"at the latest {latest} days" in guide and f"the {longest} days" in guide
    readme = text("README.md")
    assert f"{latest} days" in readme and f"({longest} days)" in readme


def _responder_of(r: Rolled, cert: Path, generation: int) -> ocsp.OCSPResponse:
    issuer = x509.load_pem_x509_certificate(
        (r.certs / f"issuing-g{generation}.pem").read_bytes())
    request = ocsp.OCSPRequestBuilder().add_certificate(
        x509.load_pem_x509_certificate(cert.read_bytes()), issuer, hashes.SHA1()).build()
    status, _, body = http(f"{r.base}/ocsp", request.public_bytes(Encoding.DER),
                           {"Content-Type": "application/ocsp-request"})
    assert status == 200
    return ocsp.load_der_ocsp_response(body)


def test_each_ca_answers_through_its_own_signer(rolled):
    """RFC 6960 §4.2.2.2: the new responder, issued by CA 2, answers for CA 2's certificates
    only; CA 1's certificates are answered by CA 1 itself (or, until refreshed, by the
    responder CA 1 certified before the ceremony), never by CA 2's responder."""
    g1 = x509.load_pem_x509_certificate((rolled.certs / "issuing-g1.pem").read_bytes())
    g2 = x509.load_pem_x509_certificate((rolled.certs / "issuing-g2.pem").read_bytes())
    responder = x509.load_pem_x509_certificate((rolled.certs / "ocsp.pem").read_bytes())
    assert responder.issuer == g2.subject

    def key_id(cert):
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    old = _responder_of(rolled, rolled.old_pem, 1)
    new = _responder_of(rolled, rolled.new_pem, 2)
    [signer] = old.certificates
    assert old.responder_key_hash == key_id(signer) != key_id(responder)
    assert signer == g1 or signer.issuer == g1.subject
    assert new.responder_key_hash == key_id(responder) and new.certificates == [responder]


def test_a_ceremony_with_a_wrong_pin_makes_no_issuing_ca(rolled):
    done = run_cli(rolled.home, "ceremony", "issuing-ca", env={"REGCA_ROOT_PIN": "0000"})
    assert done.code == 1 and done.err.count("\n") == 1 and "Traceback" not in done.err
    ctx = CaContext.open(rolled.home)
    try:
        assert ctx.issuing_cas.names() == ["issuing", "issuing-g2"]
        assert ctx.issuing_cas.active_name() == "issuing-g2"
        third = ctx.hsm.config.key("issuing").generation(3)
        assert not ctx.hsm.with_key("issuing", third).has_key("issuing")
        with ctx.db.reading() as s:
            last = next(audit_store.events(s, object_="ca:root", action="root.ceremony"))
        assert last.outcome == "failure"
    finally:
        ctx.db.dispose()


def test_an_interrupted_ceremony_uses_the_key_it_left(tmp_path):
    """A ceremony stopped right after generating the new CA's key: the next one certifies that
    key rather than leaving it unused in the token."""
    ctx = make_home(tmp_path / "home")
    try:
        key = ctx.hsm.config.key("issuing").generation(2)
        left = ctx.hsm.with_key("issuing", key).generate_key("issuing")
        with root_ceremony(ctx, ROOT_PIN, "test") as ceremony:
            made = ceremony.sign_issuing_ca()
        assert made.name == "issuing-g2" and made.key_label == "regca-issuing-ca-g2"
        assert made.certificate.public_key() == left
        assert ctx.issuing_authority().certificate == made.certificate
    finally:
        ctx.db.dispose()
