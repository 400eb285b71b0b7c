"""The signing and verification API end to end, judged by pdfsig, xmlsec1, openssl and pyHanko."""

from __future__ import annotations

import functools
import hashlib
import io
import subprocess
from pathlib import Path

import pytest
from conftest import SAMPLE_XML
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from signing_support import jst_seals, sample_pdf
from signxml.exceptions import InvalidDigest
from signxml.xades import XAdESVerifier

from ra.apikeys import create_api_key
from regca.roles import in_process_timestamper
from regca.roles import signing_app as create_app
from signing.seal import to_asn1

# B-LT, B-LTA and the revoked-signer case need a real server: tests/test_signing_http.py.

pytestmark = pytest.mark.hsm



@pytest.fixture(scope="module")
def keys(home):
    return {"sign": create_api_key(home, "eod", ["sign", "verify", "sign-digest"], None),
            "verify": create_api_key(home, "inbox", ["verify"], None),
            "jst": create_api_key(home, "gmina", ["sign"], "0862011")}


@pytest.fixture(scope="module")
def exported(home, tmp_path_factory):
    out = tmp_path_factory.mktemp("ca")
    for name, profile in (("root", "root-ca"), ("issuing", "issuing-ca")):
        (out / f"{name}.pem").write_bytes(home.certificate_of(profile).public_bytes(Encoding.PEM))
    return out


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def sign(client, key, kind, body, ctype, **query):
    resp = client.post(f"/api/v1/sign/{kind}", data=body, query_string=query,
                       headers={**auth(key), "Content-Type": ctype})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_data()


def verify(client, key, body, ctype):
    resp = client.post("/api/v1/verify", data=body, headers={**auth(key), "Content-Type": ctype})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def tamper(data: bytes, needle: bytes, replacement: bytes) -> bytes:
    assert needle in data and len(needle) == len(replacement)
    return data.replace(needle, replacement, 1)


# -- PAdES ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signed_pdfs(client, keys):
    pdf = sample_pdf()
    return {level: sign(client, keys["sign"], "pdf", pdf, "application/pdf", level=level,
                        reason="Zatwierdzono", location="Zielona Góra",
                        visible="1,50,50,300,120")
            for level in ("B-B", "B-T")}


@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_pdf_seal_is_valid_in_pdfsig(signed_pdfs, level, tmp_path):
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed_pdfs[level])
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    assert "Signature Validation: Signature is Valid." in out
    assert "Total document signed" in out
    assert "ETSI.CAdES.detached" in out


@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_pdf_seal_validates_in_pyhanko_trusting_only_the_root(signed_pdfs, exported, level):
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509
    _, _, der = pem.unarmor((exported / "root.pem").read_bytes())
    vc = ValidationContext(trust_roots=[asn1_x509.Certificate.load(der)], allow_fetching=False,
                           revocation_mode="soft-fail")
    sig = PdfFileReader(io.BytesIO(signed_pdfs[level])).embedded_signatures[0]
    status = validate_pdf_signature(sig, vc, vc)
    assert status.intact and status.valid and status.trusted
    assert (status.timestamp_validity is not None) == (level == "B-T")
    if level == "B-T":
        assert status.timestamp_validity.trusted


@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_verify_reports_pdf_seal_total_passed(client, keys, signed_pdfs, level):
    report = verify(client, keys["verify"], signed_pdfs[level], "application/pdf")
    assert report["indication"] == "TOTAL_PASSED"
    sig = report["signatures"][0]
    assert "Województwo Lubuskie" in sig["signed_by"]
    assert [c["subject"].split(",")[0] for c in sig["certificate_chain"]][1:] == [
        "CN=RegCA Issuing CA", "CN=RegCA Root CA"]
    assert len(sig["timestamps"]) == (1 if level == "B-T" else 0)
    assert sig["summary"]["pl"].startswith("Podpis prawidłowy")


def test_verify_reports_changed_pdf_as_hash_failure(client, keys, signed_pdfs):
    changed = tamper(signed_pdfs["B-T"], b"strona 1", b"strona 2")
    report = verify(client, keys["verify"], changed, "application/pdf")
    assert report["indication"] == "TOTAL_FAILED"
    assert report["signatures"][0]["sub_indication"] == "HASH_FAILURE"
    assert "zmieniono" in report["signatures"][0]["summary"]["pl"]


def test_already_signed_pdf_gets_a_second_seal_by_incremental_update(client, keys, signed_pdfs):
    first = signed_pdfs["B-B"]
    second = sign(client, keys["sign"], "pdf", first, "application/pdf", level="B-B")
    assert second.startswith(first)  # ISO 32000-1 §7.5.6: an incremental update appends
    report = verify(client, keys["verify"], second, "application/pdf")
    assert [s["indication"] for s in report["signatures"]] == ["TOTAL_PASSED"] * 2


def test_pdf_from_an_untrusted_ca_is_indeterminate_no_chain(client, keys):
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from tests_foreign import foreign_signer
    signer = foreign_signer()
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(sample_pdf())),
                           signers.PdfSignatureMetadata(field_name="Obcy"), signer=signer)
    report = verify(client, keys["verify"], out.getvalue(), "application/pdf")
    assert report["indication"] == "INDETERMINATE"
    assert report["signatures"][0]["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"


# -- XAdES ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signed_form(client, keys):
    with open(SAMPLE_XML, "rb") as f:
        return sign(client, keys["sign"], "xml", f.read(), "application/xml", level="B-T")


def xmlsec1_verify(path, exported) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(exported / "root.pem"),
         "--untrusted-pem", str(exported / "issuing.pem"),
         "--id-attr:Id", "SignedProperties", "--id-attr:Id", "KeyInfo", str(path)],
        capture_output=True, text=True)


def test_enveloped_form_verifies_with_xmlsec1(signed_form, exported, tmp_path):
    path = tmp_path / "form.xml"
    path.write_bytes(signed_form)
    done = xmlsec1_verify(path, exported)
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout + done.stderr


def test_form_with_one_changed_byte_fails_xmlsec1_and_signxml(signed_form, exported, tmp_path):
    changed = tamper(signed_form, b"Zofia", b"Zofib")
    path = tmp_path / "changed.xml"
    path.write_bytes(changed)
    assert xmlsec1_verify(path, exported).returncode != 0
    with pytest.raises(InvalidDigest):
        XAdESVerifier().verify(changed, x509_cert=_signer_pem(signed_form))


def _signer_pem(signed: bytes) -> str:
    import base64

    from cryptography import x509
    from lxml import etree
    node = etree.fromstring(signed).find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
    cert = x509.load_der_x509_certificate(base64.b64decode("".join(node.text.split())))
    return cert.public_bytes(Encoding.PEM).decode()


def test_enveloped_form_verifies_with_signxml(signed_form):
    results = XAdESVerifier().verify(signed_form, x509_cert=_signer_pem(signed_form))
    assert results and b"Kowalczyk" in b"".join(
        __import__("lxml.etree").etree.tostring(r.signed_xml) for r in results)


def test_verify_reports_form_total_passed_with_timestamp(client, keys, signed_form):
    report = verify(client, keys["verify"], signed_form, "application/xml")
    assert report["indication"] == "TOTAL_PASSED"
    assert report["signatures"][0]["timestamps"][0]["valid"] is True


def test_verify_reports_changed_form_as_hash_failure(client, keys, signed_form):
    changed = tamper(signed_form, b"Zofia", b"Zofib")
    report = verify(client, keys["verify"], changed, "application/xml")
    assert (report["indication"], report["signatures"][0]["sub_indication"]) == (
        "TOTAL_FAILED", "HASH_FAILURE")


def test_timestamp_moved_from_another_form_is_reported_invalid(client, keys, signed_form):
    import re
    other = sign(client, keys["sign"], "xml", Path(SAMPLE_XML).read_bytes(), "application/xml",
                 level="B-T")
    stamp = re.compile(rb"(<xades:EncapsulatedTimeStamp>)([^<]+)")
    moved = stamp.sub(lambda m: m.group(1) + stamp.search(other).group(2), signed_form)
    assert moved != signed_form
    report = verify(client, keys["verify"], moved, "application/xml")
    assert report["signatures"][0]["timestamps"][0]["valid"] is False


def test_detached_form_signature_references_the_document(client, keys):
    with open(SAMPLE_XML, "rb") as f:
        out = sign(client, keys["sign"], "xml", f.read(), "application/xml", level="B-B",
                   packaging="detached")
    assert out.lstrip().startswith(b"<?xml") and b"<ds:Signature" in out[:200]
    assert b'URI="document.xml"' in out


# -- CAdES ---------------------------------------------------------------------------------------

CONTENT = "Decyzja nr 1/2026 w sprawie zaświadczenia\n".encode() * 500


@pytest.mark.parametrize("mode", ["bytes", "digest"])
@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_cades_verifies_with_openssl(client, keys, exported, tmp_path, mode, level):
    if mode == "bytes":
        sig = sign(client, keys["sign"], "cms", CONTENT, "application/octet-stream", level=level)
    else:
        sig = sign(client, keys["sign"], "cms", b"", "application/octet-stream", level=level,
                   digest="sha256:" + hashlib.sha256(CONTENT).hexdigest())
    (tmp_path / "sig.p7s").write_bytes(sig)
    (tmp_path / "content.bin").write_bytes(CONTENT)
    done = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.p7s"),
         "-content", str(tmp_path / "content.bin"), "-CAfile", str(exported / "root.pem"),
         "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr


def _verify_cms(client, key, sig, content):
    resp = client.post("/api/v1/verify", headers=auth(key), data={
        "signature": (io.BytesIO(sig), "sig.p7s"), "content": (io.BytesIO(content), "c.bin")},
        content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def test_verify_reports_cades_total_passed_and_changed_content_hash_failure(client, keys):
    sig = sign(client, keys["sign"], "cms", CONTENT, "application/octet-stream", level="B-T")
    good = _verify_cms(client, keys["verify"], sig, CONTENT)
    assert good["indication"] == "TOTAL_PASSED"
    assert good["signatures"][0]["timestamps"][0]["valid"] is True
    bad = _verify_cms(client, keys["verify"], sig, CONTENT.replace(b"1/2026", b"2/2026", 1))
    assert (bad["indication"], bad["signatures"][0]["sub_indication"]) == (
        "TOTAL_FAILED", "HASH_FAILURE")


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    size = bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes(
        (n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + size + body


@pytest.mark.parametrize("signature", [
    b"not DER at all",
    # ContentInfo(signedData) whose content is 5,000 nested SEQUENCEs
    _der(0x30, bytes.fromhex("06092a864886f70d010702") + _der(0xA0, functools.reduce(
        lambda inner, _: _der(0x30, inner), range(5000), b"\x05\x00"))),
    _der(0x30, bytes.fromhex("06092a864886f70d010701") + _der(0xA0, b"\x04\x00")),
    b"-----BEGIN PKCS7-----\nMIIB\n",  # a PEM header without its END line
], ids=["garbage", "deeply-nested", "data-not-signed-data", "pem-without-end"])
def test_hostile_detached_cms_is_400(client, keys, signature):
    resp = client.post("/api/v1/verify", headers=auth(keys["verify"]), data={
        "signature": (io.BytesIO(signature), "sig.p7s"), "content": (io.BytesIO(CONTENT), "c")},
        content_type="multipart/form-data")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == "bad_document"


# -- Caller mistakes: JSON problems, never a 500 --------------------------------------------------

def test_no_key_is_401(client):
    resp = client.post("/api/v1/sign/pdf", data=sample_pdf(),
                       headers={"Content-Type": "application/pdf"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"


def test_wrong_scope_is_403(client, keys):
    resp = client.post("/api/v1/sign/pdf", data=sample_pdf(),
                       headers={**auth(keys["verify"]), "Content-Type": "application/pdf"})
    assert resp.status_code == 403
    assert "sign" in resp.get_json()["error"]["message"]


def test_body_over_the_limit_is_413(client, keys):
    body = b"%PDF-1.7\n" + b"0" * (20 * 1024 * 1024)
    resp = client.post("/api/v1/sign/pdf", data=body,
                       headers={**auth(keys["sign"]), "Content-Type": "application/pdf"})
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("body", [b"hello, not a pdf", b"%PDF-1.7\ngarbage without xref"])
def test_non_pdf_to_the_pdf_endpoint_is_400_with_a_message(client, keys, body):
    resp = client.post("/api/v1/sign/pdf", data=body,
                       headers={**auth(keys["sign"]), "Content-Type": "application/pdf"})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["message"]


def test_encrypted_pdf_is_refused_with_400(client, keys):
    from pyhanko.pdf_utils import writer
    w = writer.copy_into_new_writer(PdfFileReader(io.BytesIO(sample_pdf())))
    w.encrypt("owner-secret", "user-secret")
    out = io.BytesIO()
    w.write(out)
    resp = client.post("/api/v1/sign/pdf", data=out.getvalue(),
                       headers={**auth(keys["sign"]), "Content-Type": "application/pdf"})
    assert resp.status_code == 400
    assert "encrypted" in resp.get_json()["error"]["message"]


@pytest.mark.parametrize("query, field", [({"level": "B-X"}, "level"),
                                          ({"visible": "1,2,3"}, "visible"),
                                          ({"visible": "9,10,10,50,50"}, "visible")])
def test_bad_pdf_options_are_400_naming_the_field(client, keys, query, field):
    resp = client.post("/api/v1/sign/pdf", data=sample_pdf(), query_string=query,
                       headers={**auth(keys["sign"]), "Content-Type": "application/pdf"})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["message"].startswith(field)


def test_bad_xml_and_digest_with_body_are_400(client, keys):
    resp = client.post("/api/v1/sign/xml", data=b"<a><b></a>",
                       headers={**auth(keys["sign"]), "Content-Type": "application/xml"})
    assert resp.status_code == 400
    resp = client.post("/api/v1/sign/cms", data=b"x", query_string={"digest": "sha256:" + "0" * 64},
                       headers={**auth(keys["sign"]), "Content-Type": "application/octet-stream"})
    assert resp.status_code == 400


@pytest.mark.parametrize("method, path, status", [("GET", "/api/v1/sign/pdf", 405),
                                                  ("POST", "/api/v1/sign/nothing", 404)])
def test_unknown_routes_and_methods_answer_json(client, method, path, status):
    resp = client.open(path, method=method)
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"]


def test_jst_bound_key_seals_with_its_jsts_own_seal(client, keys, home):
    own = jst_seals(home, "0862011")["0862011"]
    resp = client.post("/api/v1/sign/pdf", data=sample_pdf(), query_string={"level": "B-B"},
                       headers={**auth(keys["jst"]), "Content-Type": "application/pdf"})
    assert resp.status_code == 200
    assert resp.headers["RegCA-Seal"] == "JST 0862011"
    signed = resp.get_data()
    sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    assert sig.signer_cert.dump() == to_asn1(own).dump()


def test_verify_without_a_signature_is_indeterminate_not_passed(client, keys):
    report = verify(client, keys["verify"], sample_pdf(), "application/pdf")
    assert report["indication"] == "INDETERMINATE" and report["signatures"] == []


def test_pdf_certified_against_changes_is_refused_with_400(client, keys):
    # ISO 32000-1 §12.8.2.2: DocMDP P=1 forbids any change, a further signature included.
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from tests_foreign import foreign_signer
    certified = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(sample_pdf())),
        signers.PdfSignatureMetadata(field_name="Autor", certify=True,
                                     docmdp_permissions=fields.MDPPerm.NO_CHANGES),
        signer=foreign_signer()).getvalue()
    resp = client.post("/api/v1/sign/pdf", data=certified, query_string={"level": "B-B"},
                       headers={**auth(keys["sign"]), "Content-Type": "application/pdf"})
    assert resp.status_code == 400
    assert "forbids" in resp.get_json()["error"]["message"]


def test_configured_signature_policy_is_in_the_signed_properties(home):
    import base64

    from signing.config import SigningConfig, _xades_policy
    policy = _xades_policy({"identifier": "urn:oid:1.3.6.1.4.1.99999.616.3.1",
                            "description": "Polityka podpisu e-formularzy",
                            "digest_sha256": base64.b64encode(hashlib.sha256(b"p").digest())
                            .decode()})
    app = create_app(home, SigningConfig(xades_policy=policy),
                     timestamper=in_process_timestamper(home), fetch_revocation=False)
    key = create_api_key(home, "policy", ["sign"], None)
    signed = sign(app.test_client(), key, "xml", Path(SAMPLE_XML).read_bytes(),
                  "application/xml", level="B-B")
    assert b"SignaturePolicyIdentifier" in signed and b"616.3.1" in signed
    XAdESVerifier().verify(signed, x509_cert=_signer_pem(signed), expect_signature_policy=policy)


def test_bad_policy_configuration_names_the_field():
    from ca.errors import ConfigurationError
    from signing.config import _xades_policy
    with pytest.raises(ConfigurationError, match="digest_sha256"):
        _xades_policy({"identifier": "urn:oid:1.2", "description": "x", "digest_sha256": "abc"})
