"""The signing API over real HTTP, mounted by regca.wsgi, driven by curl as the README shows."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from conftest import SAMPLE_XML, make_home
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from signing_support import sample_pdf
from tsa_support import free_port, wsgi_thread

from ra.apikeys import create_api_key
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm



@pytest.fixture(scope="module")
def live(tmp_path_factory):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ctx = make_home(tmp_path_factory.mktemp("live") / "home", public_url=base)
    key = create_api_key(ctx, "eod", ["sign", "sign-digest", "verify"], None)
    with wsgi_thread(create_app(ctx.settings.home, ctx), port):
        yield {"ctx": ctx, "base": base, "key": key}
    ctx.db.dispose()


def curl(live, *args: str, data: bytes | None = None) -> tuple[int, bytes]:
    done = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}",
                           "-H", f"Authorization: Bearer {live['key']}", *args],
                          input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition(b"\n")
    return int(status), body


def test_curl_seals_a_pdf_and_verify_reports_total_passed(live, tmp_path):
    (tmp_path / "in.pdf").write_bytes(sample_pdf())
    status, signed = curl(live, "-H", "Content-Type: application/pdf",
                          "--data-binary", f"@{tmp_path / 'in.pdf'}",
                          f"{live['base']}/api/v1/sign/pdf?reason=Zatwierdzono")
    assert status == 200 and signed.startswith(b"%PDF-")
    (tmp_path / "out.pdf").write_bytes(signed)
    out = subprocess.run(["pdfsig", str(tmp_path / "out.pdf")], capture_output=True, text=True)
    assert "Signature is Valid." in out.stdout
    status, report = curl(live, "-H", "Content-Type: application/pdf",
                          "--data-binary", f"@{tmp_path / 'out.pdf'}",
                          f"{live['base']}/api/v1/verify")
    report = json.loads(report)
    assert status == 200 and report["indication"] == "TOTAL_PASSED"
    assert report["signatures"][0]["timestamps"], "the default level is B-T"


def test_curl_xml_and_cms_digest(live, tmp_path):
    status, signed = curl(live, "-H", "Content-Type: application/xml",
                          "--data-binary", f"@{SAMPLE_XML}", f"{live['base']}/api/v1/sign/xml")
    assert status == 200 and b"SignatureTimeStamp" in signed
    content = Path(SAMPLE_XML).read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    status, sig = curl(live, "-X", "POST", "-H", "Content-Type: application/octet-stream",
                       f"{live['base']}/api/v1/sign/cms?level=B-B&digest=sha256:{digest}")
    assert status == 200
    (tmp_path / "sig.p7s").write_bytes(sig)
    status, report = curl(live, "-F", f"signature=@{tmp_path / 'sig.p7s'}",
                          "-F", f"content=@{SAMPLE_XML}", f"{live['base']}/api/v1/verify")
    assert status == 200 and json.loads(report)["indication"] == "TOTAL_PASSED"


def test_openapi_is_served_by_the_composed_app(live):
    done = subprocess.run(["curl", "-sS", f"{live['base']}/api/v1/openapi.json"],
                          capture_output=True, timeout=30)
    assert json.loads(done.stdout)["paths"]["/api/v1/verify"]["post"]


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_long_term_pdf_validates_with_the_network_cut(live, level, tmp_path):
    status, signed = curl(live, "-H", "Content-Type: application/pdf", "--data-binary", "@-",
                          f"{live['base']}/api/v1/sign/pdf?level={level}", data=sample_pdf())
    assert status == 200
    (tmp_path / "lt.pdf").write_bytes(signed)
    assert "Signature is Valid." in subprocess.run(
        ["pdfsig", str(tmp_path / "lt.pdf")], capture_output=True, text=True).stdout
    root_der = pem.unarmor(live["ctx"].certificate_of("root-ca").public_bytes(Encoding.PEM))[2]
    reader = PdfFileReader(io.BytesIO(signed))
    vc = DocumentSecurityStore.read_dss(reader).as_validation_context({
        "trust_roots": [asn1_x509.Certificate.load(root_der)], "allow_fetching": False,
        "revocation_mode": "hard-fail"})
    status = validate_pdf_signature(reader.embedded_regular_signatures[0], vc, vc)
    assert status.intact and status.valid and status.trusted


def _document_timestamp(live, data: bytes) -> bytes:
    """A PAdES document time-stamp from the live /tsa, as `pyhanko sign timestamp` adds one."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.timestamps import HTTPTimeStamper
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    return signers.PdfTimeStamper(HTTPTimeStamper(f"{live['base']}/tsa")).timestamp_pdf(
        writer, md_algorithm="sha256").getvalue()


def test_revoked_seal_is_reported_per_the_proof_of_signing_time(live):
    """Runs last in this module: it revokes the home's seal. EN 319 102-1 §5.6.2.4: without proof
    that the signature existed before the revocation the result is REVOKED_NO_POE; a signature
    time-stamp, or a document time-stamp over it, from before the revocation is that proof."""
    from ca.revocation import RevocationRequest, Revoker
    signed = {}
    for level in ("B-B", "B-T", "B-LTA"):
        status, signed[level] = curl(live, "-H", "Content-Type: application/pdf",
                                     "--data-binary", "@-",
                                     f"{live['base']}/api/v1/sign/pdf?level={level}",
                                     data=sample_pdf())
        assert status == 200
    signed["B-B+DTS"] = _document_timestamp(live, signed["B-B"])
    seal = live["ctx"].certificate_of("seal")
    live["ctx"].clock.advance(minutes=5)  # the revocation comes after every signature
    Revoker(live["ctx"]).revoke(RevocationRequest(format(seal.serial_number, "x"),
                                                  "superseded", "operator:test"))
    reports = {}
    for level, document in signed.items():
        status, body = curl(live, "-H", "Content-Type: application/pdf", "--data-binary", "@-",
                            f"{live['base']}/api/v1/verify", data=document)
        assert status == 200
        reports[level] = json.loads(body)["signatures"]
    assert [(s["indication"], s["sub_indication"]) for s in reports["B-B"]] == [
        ("INDETERMINATE", "REVOKED_NO_POE")]
    assert reports["B-T"][0]["timestamps"][0]["valid"] is True
    for level in ("B-T", "B-LTA", "B-B+DTS"):
        assert [(s["indication"], s["sub_indication"]) for s in reports[level]][0] == (
            "TOTAL_PASSED", None), (level, reports[level])
    stamp = reports["B-B+DTS"][1]
    assert (stamp["kind"], stamp["indication"]) == ("document_timestamp", "TOTAL_PASSED")
    assert reports["B-B+DTS"][0]["best_signature_time"] == stamp["best_signature_time"]
