"""Each JST seals in its own name (issue: seals that name who stands behind them).

`regca seal create --org TERYT` makes the JST's seal key in the HSM and its certificate from
the seal profile (C, O, organizationIdentifier VATPL-<NIP>, CN: ETSI EN 319 412-3); a key
bound to that JST then seals with it in every running worker within 15 s, without a restart.
A JST without a seal is refused (409) unless regca.toml lets the region's seal stand in, and
then the response, the audit event and the usage report say so.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time

import pytest
from conftest import make_home, run_cli
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from signing_support import sample_pdf
from tsa_support import REGCA, ROOT, free_port, post, regca_serve

from ca.store import audit as audit_store
from ra.apikeys import create_api_key
from ra.organizations import add_organization
from regca.bootstrap import DEMO_JST

pytestmark = pytest.mark.hsm

ZG, GORZOW = DEMO_JST[0], DEMO_JST[1]  # Zielona Góra, Gorzów Wielkopolski
DEADLINE = 15.0  # CONTRACT.md: a seal created takes effect in every worker within 15 s


def regca(home, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([REGCA, "--home", str(home.settings.home), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def attr(cert: x509.Certificate, oid) -> str | None:
    found = cert.subject.get_attributes_for_oid(oid)
    return found[0].value if found else None


def signer_of(pdf: bytes, index: int = -1) -> x509.Certificate:
    sig = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[index]
    return x509.load_der_x509_certificate(sig.signer_cert.dump())


def seal_pdf(base: str, key: str, pdf: bytes) -> tuple[int, bytes, str | None]:
    status, ctype, body = post(f"{base}/api/v1/sign/pdf?level=B-B", pdf, "application/pdf",
                               {"Authorization": f"Bearer {key}"})
    return status, body, ctype


def events(ctx, key: str) -> list[tuple[str, dict]]:
    key_id = key.split("_")[1]
    with ctx.db.reading() as s:
        rows = [r for r in audit_store.events(s, limit=100000)
                if r.actor == f"apikey:{key_id}" and r.action.startswith("sign.")]
    return [(r.outcome, json.loads(r.details)) for r in reversed(rows)]


def usage(ctx) -> dict[str, dict]:
    from ca.usage import Month, usage_report
    report = usage_report(ctx.db, Month.of(ctx.now()))
    return {o.teryt: o.to_json() for o in report.organizations}


def nss_trusting(root: x509.Certificate, where) -> str:
    """An NSS database trusting RegCA's root (what Okular, Evince and pdfsig read)."""
    where.mkdir()
    (where / "root.pem").write_bytes(root.public_bytes(Encoding.PEM))
    for cmd in (["certutil", "-N", "-d", f"sql:{where}", "--empty-password"],
                ["certutil", "-A", "-d", f"sql:{where}", "-n", "RegCA Root", "-t", "CT,C,C",
                 "-i", str(where / "root.pem")]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    return f"sql:{where}"


# -- the command -----------------------------------------------------------------------------------

def test_seal_create_names_the_jst_as_en_319_412_3_says(home, tmp_path):
    done = run_cli(home.settings.home, "seal", "create", "--org", GORZOW["teryt"])
    assert done.code == 0, done.err
    assert f"seal of JST {GORZOW['teryt']}" in done.out
    assert f"organizationIdentifier=VATPL-{GORZOW['nip']}" in done.out
    serial = done.out.split("certificate ")[1].split(" ")[0]
    from ca.store import certificates as cert_store
    with home.db.reading() as s:
        row = cert_store.get(s, serial)
    cert = x509.load_der_x509_certificate(row.der)
    assert (row.profile, row.organization_teryt) == ("seal", GORZOW["teryt"])
    assert attr(cert, NameOID.COUNTRY_NAME) == "PL"
    assert attr(cert, NameOID.ORGANIZATION_NAME) == GORZOW["name"]
    assert attr(cert, NameOID.ORGANIZATION_IDENTIFIER) == f"VATPL-{GORZOW['nip']}"
    assert attr(cert, NameOID.COMMON_NAME) == GORZOW["name"]
    assert attr(cert, NameOID.SURNAME) is None and attr(cert, NameOID.GIVEN_NAME) is None
    region = home.certificate_of("seal")  # the same profile: key usage and EKU as the region's
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value == \
        region.extensions.get_extension_for_class(x509.KeyUsage).value
    assert cert.issuer == home.certificate_of("issuing-ca").subject
    assert cert.public_key() != region.public_key()
    (tmp_path / "seal.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    (tmp_path / "chain.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM)
                                                  for c in home.chain()))
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "chain.pem"),
                               str(tmp_path / "seal.pem")], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr


def test_a_second_seal_for_the_same_jst_is_refused_pointing_at_rollover(home):
    run_cli(home.settings.home, "seal", "create", "--org", GORZOW["teryt"])
    again = run_cli(home.settings.home, "seal", "create", "--org", GORZOW["teryt"])
    assert again.code == 1 and again.err.count("\n") == 1
    assert "rollover seal --org" in again.err


@pytest.mark.parametrize("teryt, field", [("0899999", "org"), ("12345", "org"),
                                          ("0810011", "NIP")])
def test_a_seal_for_an_unknown_jst_or_one_without_nip_is_refused(home, teryt, field):
    from ca.errors import Conflict
    try:
        add_organization(home, "0810011", "Gmina Bez NIP", None, None, actor="test")
    except Conflict:
        pass  # added by the parametrisation before
    done = run_cli(home.settings.home, "seal", "create", "--org", teryt)
    assert done.code == 1 and field in done.err and "Traceback" not in done.err


# -- the signing API ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A home of its own under `regca serve` (gunicorn, two workers), whose JST get their
    seals while it runs."""
    port = free_port()  # the port its certificates name: NSS fetches the seals' OCSP answers
    ctx = make_home(tmp_path_factory.mktemp("jst-seals") / "home",
                    public_url=f"http://127.0.0.1:{port}")
    keys = {j["teryt"]: create_api_key(ctx, f"EOD {j['name']}", ["sign"], j["teryt"])
            for j in (ZG, GORZOW)}
    with regca_serve(ctx.settings.home, workers=2, port=port) as (base, _proc):
        yield ctx, base, keys
    ctx.db.dispose()


def test_a_jst_without_a_seal_is_409_and_recorded(served):
    ctx, base, keys = served
    status, body, _ = seal_pdf(base, keys[ZG["teryt"]], sample_pdf())
    assert status == 409
    error = json.loads(body)["error"]
    assert error["code"] == "conflict" and f"regca seal create --org {ZG['teryt']}" in \
        error["message"]
    assert [(o, d["error"]["code"]) for o, d in events(ctx, keys[ZG["teryt"]])] == [
        ("refused", "conflict")]


def test_two_jst_seal_one_document_each_in_its_own_name(served, tmp_path):
    """Done when: the same PDF sealed with keys of two JST carries two different seal
    certificates, each naming its JST; pdfsig (NSS) verifies both; one audit event per seal;
    the usage report rises by one per seal."""
    ctx, base, keys = served
    before = usage(ctx)
    created = {}
    for jst in (ZG, GORZOW):  # while the server runs: no restart
        done = regca(ctx, "seal", "create", "--org", jst["teryt"])
        assert done.returncode == 0, done.stderr
        created[jst["teryt"]] = time.monotonic()
    pdf, signers, took = sample_pdf(), {}, {}
    for jst in (ZG, GORZOW):
        # both workers must switch: keep asking until several answers in a row are sealed
        teryt, ok_in_a_row = jst["teryt"], 0
        while ok_in_a_row < 4:
            status, body, ctype = seal_pdf(base, keys[teryt], pdf)
            assert status in (200, 409), body[:300]
            ok_in_a_row = ok_in_a_row + 1 if status == 200 else 0
            assert time.monotonic() - created[teryt] < DEADLINE + 5, "seal not used in time"
        took[teryt] = time.monotonic() - created[teryt]
        pdf = body  # the next JST seals the document the first one sealed
        signers[teryt] = signer_of(pdf)
    assert all(t <= DEADLINE for t in took.values()), took
    first, second = signer_of(pdf, 0), signer_of(pdf, -1)
    assert first.serial_number != second.serial_number
    for jst, cert in ((ZG, first), (GORZOW, second)):
        assert attr(cert, NameOID.ORGANIZATION_NAME) == jst["name"]
        assert attr(cert, NameOID.ORGANIZATION_IDENTIFIER) == f"VATPL-{jst['nip']}"

    # NSS, trusting only the root, as pdfsig (poppler) runs in Okular and Evince
    (tmp_path / "sealed.pdf").write_bytes(pdf)
    nss = nss_trusting(ctx.certificate_of("root-ca"), tmp_path / "nss")
    out = subprocess.run(["pdfsig", "-nssdir", nss, str(tmp_path / "sealed.pdf")],
                         capture_output=True, text=True).stdout
    assert out.count("Signature Validation: Signature is Valid.") == 2, out
    assert out.count("Certificate Validation: Certificate is Trusted.") == 2, out

    # one success event per 200, each naming the JST's own seal; the report counts them
    for jst in (ZG, GORZOW):
        teryt = jst["teryt"]
        successes = [d for o, d in events(ctx, keys[teryt]) if o == "success"]
        serial = format(signers[teryt].serial_number, "x")
        assert successes and {d["seal_serial"] for d in successes} == {serial}
        assert not any(d["seal_fallback"] for d in successes)
        after = usage(ctx)[teryt]
        assert after["seals"] == before[teryt]["seals"] + len(successes)
        assert after["seals_by_region_seal"] == 0


def test_a_rolled_over_jst_seal_is_used_by_every_worker(served):
    ctx, base, keys = served
    teryt = ZG["teryt"]
    # Every worker seals with the JST's first seal already: a worker that answered 409 before
    # the seal existed may keep that answer up to the contract's 15 s, and successes in a row
    # need not have reached it (one worker may take every connection), so the window passes
    # in full, sealing all along, before the rollover.
    start, in_a_row = time.monotonic(), 0
    while in_a_row < 6 or time.monotonic() - start < DEADLINE:
        in_a_row = in_a_row + 1 if seal_pdf(base, keys[teryt], sample_pdf())[0] == 200 else 0
        assert time.monotonic() - start < DEADLINE + 10
        time.sleep(0.25)
    done = regca(ctx, "rollover", "seal", "--org", teryt)
    assert done.returncode == 0, done.stderr
    new_serial = done.stdout.split("certificate ")[1].split(",")[0]
    start, in_a_row = time.monotonic(), 0
    while in_a_row < 4:
        status, body, _ = seal_pdf(base, keys[teryt], sample_pdf())
        assert status == 200, body[:400]  # never a 409 once the JST has a seal
        in_a_row = in_a_row + 1 if format(signer_of(body).serial_number, "x") == new_serial \
            else 0
        assert time.monotonic() - start < DEADLINE + 5
    assert attr(signer_of(body), NameOID.ORGANIZATION_IDENTIFIER) == f"VATPL-{ZG['nip']}"


# -- the region's seal standing in, when regca.toml says so --------------------------------

def test_the_region_seal_stands_in_only_when_configured_and_says_so(home):
    from regca.roles import in_process_timestamper, signing_app
    from signing.config import SigningConfig
    teryt = DEMO_JST[3]["teryt"]  # Świdnica: no seal of its own
    key = create_api_key(home, "EOD Świdnica", ["sign"], teryt)
    before = usage(home)[teryt]
    apps = {flag: signing_app(home, SigningConfig(region_seal_stands_in=flag),
                              timestamper=in_process_timestamper(home),
                              fetch_revocation=False).test_client() for flag in (False, True)}
    args = dict(data=sample_pdf(), query_string={"level": "B-B"},
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/pdf"})
    assert apps[False].post("/api/v1/sign/pdf", **args).status_code == 409
    resp = apps[True].post("/api/v1/sign/pdf", **args)
    assert resp.status_code == 200
    assert resp.headers["RegCA-Seal"] == f"region (no seal provisioned for JST {teryt})"
    region = home.certificate_of("seal")
    assert signer_of(resp.get_data()).serial_number == region.serial_number
    outcomes = [(o, d["seal_fallback"], d["seal_serial"]) for o, d in events(home, key)]
    assert outcomes == [("refused", False, None),
                        ("success", True, format(region.serial_number, "x"))]
    after = usage(home)[teryt]
    assert (after["seals"], after["seals_by_region_seal"]) == (
        before["seals"] + 1, before["seals_by_region_seal"] + 1)


def test_a_key_bound_to_no_jst_seals_with_the_region(home):
    from regca.roles import in_process_timestamper, signing_app
    key = create_api_key(home, "region EOD", ["sign"], None)
    resp = signing_app(home, timestamper=in_process_timestamper(home),
                       fetch_revocation=False).test_client().post(
        "/api/v1/sign/pdf", data=sample_pdf(), query_string={"level": "B-B"},
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/pdf"})
    assert resp.status_code == 200 and resp.headers["RegCA-Seal"] == "region"
    assert signer_of(resp.get_data()).serial_number == home.certificate_of("seal").serial_number


def test_a_bad_stand_in_setting_names_the_field():
    from ca.errors import ConfigurationError
    from signing.config import SigningConfig
    with pytest.raises(ConfigurationError, match="region_seal_stands_in"):
        SigningConfig(region_seal_stands_in="yes")
