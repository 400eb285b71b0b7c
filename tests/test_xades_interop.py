"""XAdES seals that common verifiers read: xadesjs (npm, on xmldsigjs) verifies an enveloped
and a detached B-T made by the API; KeyInfo carries X509Data only, DataObjectFormat names the
document, and a detached signature references the URI the caller chose. (xmlsec1 and signxml
judge the same seals in tests/test_signing_api.py.)"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import SAMPLE_XML
from lxml import etree

from ra.apikeys import create_api_key
from signing.xades import DS, XADES

pytestmark = pytest.mark.hsm

HERE = Path(__file__).resolve().parent
VERIFY_JS = HERE / "xadesjs" / "verify.cjs"
# Pinned: the judge must not change under the tests. xadesjs 2.6 runs on xmldsigjs 2.8.
NPM_PACKAGES = ("xadesjs@2.6.8", "@peculiar/webcrypto@1.7.2", "@xmldom/xmldom@0.9.12",
                "xpath@0.0.34")
DSIG11 = "http://www.w3.org/2009/xmldsig11#"


@pytest.fixture(scope="session")
def xadesjs() -> Path:
    """A directory whose node_modules hold the pinned packages, installed once per machine
    into the temporary directory (a rename makes a finished install appear at once)."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed to run xadesjs (Debian: nodejs, npm)")
    tag = hashlib.sha256(" ".join(NPM_PACKAGES).encode()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"regca-test-xadesjs-{tag}"
    if not (target / "node_modules" / "xadesjs").is_dir():
        work = Path(tempfile.mkdtemp(prefix="regca-xadesjs-"))
        done = subprocess.run(["npm", "install", "--prefix", str(work), "--no-audit", "--no-fund",
                               "--silent", *NPM_PACKAGES], capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            pytest.skip("npm could not install xadesjs (no registry reachable?): "
                        + (done.stderr.strip().splitlines() or ["?"])[-1])
        try:
            os.rename(work, target)
        except OSError:  # another run finished first
            shutil.rmtree(work, ignore_errors=True)
    shutil.copy(VERIFY_JS, target / "verify.cjs")
    return target


def xadesjs_verdict(judge: Path, signed: bytes, content: bytes | None, tmp: Path) -> dict:
    (tmp / "signed.xml").write_bytes(signed)
    args = ["node", str(judge / "verify.cjs"), str(tmp / "signed.xml")]
    if content is not None:
        (tmp / "content.xml").write_bytes(content)
        args.append(str(tmp / "content.xml"))
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=judge)
    verdict = json.loads(done.stdout.strip().splitlines()[-1])
    assert (done.returncode == 0) == verdict["valid"], done.stdout + done.stderr
    return verdict


@pytest.fixture(scope="module")
def key(home):
    return create_api_key(home, "e-formularze", ["sign"], None)


def seal(client, key, body: bytes, ctype: str = "application/xml", **query):
    return client.post("/api/v1/sign/xml", data=body, query_string={"level": "B-T", **query},
                       headers={"Authorization": f"Bearer {key}", "Content-Type": ctype})


@pytest.fixture(scope="module")
def sealed(client, key):
    form = Path(SAMPLE_XML).read_bytes()
    enveloped = seal(client, key, form)
    detached = seal(client, key, form, packaging="detached", reference_uri="wniosek-123.xml")
    assert enveloped.status_code == detached.status_code == 200, detached.get_data(as_text=True)
    return {"enveloped": enveloped.get_data(), "detached": detached.get_data(), "form": form}


def test_xadesjs_verifies_an_enveloped_b_t_seal(xadesjs, sealed, tmp_path):
    assert b"SignatureTimeStamp" in sealed["enveloped"]
    assert xadesjs_verdict(xadesjs, sealed["enveloped"], None, tmp_path)["valid"]


def test_xadesjs_verifies_a_detached_b_t_seal_with_its_document(xadesjs, sealed, tmp_path):
    assert b"SignatureTimeStamp" in sealed["detached"]
    assert xadesjs_verdict(xadesjs, sealed["detached"], sealed["form"], tmp_path)["valid"]


def test_xadesjs_refuses_a_changed_form(xadesjs, sealed, tmp_path):
    changed = sealed["form"].replace(b"Zofia", b"Zofib", 1)
    assert changed != sealed["form"]
    assert not xadesjs_verdict(xadesjs, sealed["detached"], changed, tmp_path)["valid"]
    envelope = sealed["enveloped"].replace(b"Zofia", b"Zofib", 1)
    assert not xadesjs_verdict(xadesjs, envelope, None, tmp_path)["valid"]


@pytest.mark.parametrize("packaging", ["enveloped", "detached"])
def test_key_info_holds_x509_data_and_no_key_value(sealed, packaging):
    root = etree.fromstring(sealed[packaging])
    signature = root if root.tag == f"{{{DS}}}Signature" else root.findall(f"{{{DS}}}Signature")[-1]
    key_info = signature.find(f"{{{DS}}}KeyInfo")
    assert key_info.find(f"{{{DS}}}X509Data/{{{DS}}}X509Certificate") is not None
    assert key_info.find(f"{{{DS}}}KeyValue") is None
    assert signature.find(f".//{{{DSIG11}}}ECKeyValue") is None


def test_data_object_format_names_the_document_and_its_media_type(client, key):
    form = Path(SAMPLE_XML).read_bytes()
    default = etree.fromstring(seal(client, key, form, level="B-B").get_data())
    described = etree.fromstring(seal(client, key, form, "text/xml", level="B-B",
                                      description="Wniosek o zaświadczenie").get_data())
    fmt = f".//{{{XADES}}}DataObjectFormat"
    first = default.find(fmt)
    assert first.findtext(f"{{{XADES}}}MimeType") == "application/xml"
    assert first.findtext(f"{{{XADES}}}Description") == "Dokument XML <Dokument> / XML document"
    second = described.find(fmt)
    assert (second.findtext(f"{{{XADES}}}Description"),
            second.findtext(f"{{{XADES}}}MimeType")) == ("Wniosek o zaświadczenie", "text/xml")
    assert b"Default XAdES payload description" not in etree.tostring(default)


def test_detached_reference_uri_is_the_callers_or_document_xml(client, key, sealed):
    refs = etree.fromstring(sealed["detached"]).findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    assert refs[0].get("URI") == "wniosek-123.xml"
    plain = seal(client, key, sealed["form"], level="B-B", packaging="detached").get_data()
    first = etree.fromstring(plain).find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    assert first.get("URI") == "document.xml"


@pytest.mark.parametrize("query", [
    {"packaging": "detached", "reference_uri": "a b.xml"},
    {"packaging": "detached", "reference_uri": "#SignedProperties"},
    {"packaging": "detached", "reference_uri": "x" * 201},
    {"packaging": "enveloped", "reference_uri": "wniosek.xml"},
], ids=["space", "same-document", "too-long", "enveloped"])
def test_a_bad_reference_uri_is_400_naming_the_field(client, key, sealed, query):
    resp = seal(client, key, sealed["form"], level="B-B", **query)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["message"].startswith("reference_uri")
