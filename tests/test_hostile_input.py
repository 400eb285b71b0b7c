"""Hostile bodies answered 4xx, never 500: deeply nested JSON on every /api/v1 JSON body, a
deeply nested PDF and an XML with a DTD (entities) on every endpoint that parses them."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from conftest import STAFF, make_csr, run_cli
from werkzeug.test import Client

from ca.issuance import IssuanceRequest, Issuer
from ra.apikeys import create_api_key
from regca.wsgi import create_app

pytestmark = pytest.mark.hsm


def deep_pdf(depth: int = 900) -> bytes:
    """A small valid PDF whose trailer and catalog hold an array nested ``depth`` deep."""
    deep = b"[" * depth + b"]" * depth
    objects = [b"<< /Type /Catalog /Pages 2 0 R /Deep " + deep + b" >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Deep " % (len(objects) + 1) + deep
            + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return bytes(out)


DTD_XML = (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
           b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
           b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n<r>&c;</r>\n')
EXTERNAL_XML = (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b'\n<r>&x;</r>\n')
DEEP_JSON = b"[" * 100_000


@pytest.fixture(scope="module")
def api(home):
    key = create_api_key(home, "hostile", ["issue", "revoke", "sign", "verify"], "0862011")
    return Client(create_app(home.settings.home, home)), {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def serial(home):
    return Issuer(home).issue(IssuanceRequest("staff-signing", make_csr(), dict(STAFF),
                                              "test")).serial


@pytest.mark.parametrize("action", ["issue", "revoke"])
@pytest.mark.parametrize("body,code", [
    (DEEP_JSON, "malformed"),
    (b'{"a":' * 5000 + b"1" + b"}" * 5000, "malformed"),
    (b'{"profile": "' + b"x" * 300_000 + b'"}', "payload_too_large"),
])
def test_deep_or_huge_json_is_a_client_error_and_changes_nothing(api, home, serial, action,
                                                                 body, code):
    client, headers = api
    path = ("/api/v1/certificates" if action == "issue"
            else f"/api/v1/certificates/{serial}/revoke")
    r = client.post(path, data=body, headers=headers, content_type="application/json")
    assert r.status_code == (413 if code == "payload_too_large" else 400), r.text
    assert r.get_json()["error"]["code"] == code
    assert client.get(f"/api/v1/certificates/{serial}", headers=headers).get_json()["status"] \
        == "good"


def test_json_nested_a_little_is_still_refused_by_depth(api):
    client, headers = api
    body = b'{"profile": "staff-signing", "csr": "x", "subject": ' + b"[" * 40 + b"]" * 40 + b"}"
    r = client.post("/api/v1/certificates", data=body, headers=headers,
                    content_type="application/json")
    assert r.status_code == 400 and "deep" in r.get_json()["error"]["message"]


@pytest.mark.parametrize("path", ["/api/v1/verify", "/api/v1/sign/pdf?level=B-B"])
def test_a_900_deep_pdf_array_is_a_client_error(api, path):
    client, headers = api
    r = client.post(path, data=deep_pdf(), headers=headers, content_type="application/pdf")
    assert 400 <= r.status_code < 500, r.text


@pytest.mark.parametrize("path", ["/api/v1/verify", "/api/v1/sign/xml?level=B-B"])
@pytest.mark.parametrize("body", [DTD_XML, EXTERNAL_XML])
def test_xml_with_a_dtd_is_a_client_error(api, path, body):
    client, headers = api
    r = client.post(path, data=body, headers=headers, content_type="application/xml")
    assert 400 <= r.status_code < 500, r.text
    assert "passwd" not in r.text and "root:" not in r.text


def test_a_detached_xml_signature_with_a_dtd_is_a_client_error(api):
    client, headers = api
    r = client.post("/api/v1/verify", headers=headers, data={
        "signature": (io.BytesIO(DTD_XML), "sig.xml"),
        "content": (io.BytesIO(b"x"), "doc.txt")})
    assert 400 <= r.status_code < 500, r.text


def test_depth_counts_brackets_outside_strings_only():
    from edge.json_body import nesting_depth
    assert nesting_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": "\\"]]]"}]}') == 3
    assert nesting_depth(b"[" * 100_000, limit=16) == 17


# -- the command line: one line, whatever went wrong ---------------------------------------------

def test_export_ca_to_an_unwritable_place_is_one_line(home):
    r = run_cli(home.settings.home, "export-ca", "--out", "/proc/nope")
    assert r.code == 1 and r.err.count("\n") == 1 and r.err.startswith("regca: error: /proc/nope")
    assert "Traceback" not in r.err


@pytest.mark.parametrize("content", [b'{"given_name": "Jan"}\n', b"\x30\x82\x01",
                                     b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                                     b"-----END CERTIFICATE REQUEST-----\n"])
def test_a_file_that_is_not_a_csr_is_one_clear_line(home, tmp_path, content):
    (tmp_path / "subj.json").write_text(json.dumps(STAFF))
    (tmp_path / "req.pem").write_bytes(content)
    r = run_cli(home.settings.home, "issue", "--profile", "staff-signing",
                "--csr", str(tmp_path / "req.pem"), "--subject", str(tmp_path / "subj.json"))
    assert r.code == 1 and r.err.count("\n") == 1 and "not a PKCS#10 certificate request" in r.err
    assert "ParseError" not in r.err and "ShortData" not in r.err and "asn1" not in r.err


def test_the_real_command_prints_no_traceback(home):
    """Through the installed entry point in a process of its own, as an operator runs it."""
    r = subprocess.run([sys.executable, "-m", "regca.cli", "--home", str(home.settings.home),
                        "export-ca", "--out", "/proc/nope"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
