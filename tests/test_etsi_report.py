"""`Accept: application/xml` on /api/v1/verify: the ETSI TS 119 102-2 validation report, one
entry per signature and document time-stamp, with the same verdicts as the JSON report, checked
against the ETSI schema (tests/etsi_report_support.py; the checks skip, saying why, when the
schema file is not in tests/data/xsd)."""

from __future__ import annotations

import io

import pytest
from conftest import SAMPLE_XML
from etsi_report_support import SCHEMA_FILE, assert_valid_etsi_report, schema_problems
from lxml import etree
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from signing_support import sample_pdf

from ra.apikeys import create_api_key
from regca.roles import in_process_timestamper

pytestmark = pytest.mark.hsm

VR = "http://uri.etsi.org/19102/v1.2.1#"
MAIN = {"TOTAL_PASSED": "urn:etsi:019102:mainindication:total-passed",
        "TOTAL_FAILED": "urn:etsi:019102:mainindication:total-failed",
        "INDETERMINATE": "urn:etsi:019102:mainindication:indeterminate"}


@pytest.fixture(scope="module")
def key(home):
    return create_api_key(home, "eod", ["sign", "verify"], None)


def _sign(client, key, kind, body, ctype, **query) -> bytes:
    resp = client.post(f"/api/v1/sign/{kind}", data=body, query_string=query,
                       headers={"Authorization": f"Bearer {key}", "Content-Type": ctype})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_data()


def _both(client, key, body, ctype) -> tuple[dict, etree._Element, bytes]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": ctype}
    as_json = client.post("/api/v1/verify", data=body, headers=headers).get_json()
    resp = client.post("/api/v1/verify", data=body,
                       headers={**headers, "Accept": "application/xml"})
    assert resp.status_code == 200 and resp.mimetype == "application/xml"
    xml = resp.get_data()
    return as_json, etree.fromstring(xml), xml


def _documents(home, client, key) -> dict[str, tuple[bytes, str]]:
    bt = _sign(client, key, "pdf", sample_pdf(), "application/pdf", level="B-T")
    writer = IncrementalPdfFileWriter(io.BytesIO(bt))
    stamped = signers.PdfTimeStamper(in_process_timestamper(home)).timestamp_pdf(
        writer, md_algorithm="sha256").getvalue()
    forged_writer = IncrementalPdfFileWriter(io.BytesIO(bt))
    page = forged_writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Contents"] = forged_writer.add_object(generic.StreamObject(stream_data=b"BT ET"))
    forged_writer.update_container(page)
    forged = io.BytesIO()
    forged_writer.write(forged)
    return {
        "pdf-B-B": (_sign(client, key, "pdf", sample_pdf(), "application/pdf", level="B-B"),
                    "application/pdf"),
        "pdf-B-T+document-timestamp": (stamped, "application/pdf"),
        "pdf-changed-after-sealing": (forged.getvalue(), "application/pdf"),
        "xades-B-T": (_sign(client, key, "xml", SAMPLE_XML.read_bytes(), "application/xml",
                            level="B-T"), "application/xml"),
    }


@pytest.fixture(scope="module")
def documents(home, client, key):
    return _documents(home, client, key)


CASES = ["pdf-B-B", "pdf-B-T+document-timestamp", "pdf-changed-after-sealing", "xades-B-T"]


@pytest.mark.parametrize("case", CASES)
def test_xml_report_has_one_entry_per_signature_with_the_json_verdicts(client, key,
                                                                       documents, case):
    as_json, root, _ = _both(client, key, *documents[case])
    assert root.tag == f"{{{VR}}}ValidationReport"
    entries = root.findall(f"{{{VR}}}SignatureValidationReport")
    assert len(entries) == len(as_json["signatures"]) > 0
    for entry, sig in zip(entries, as_json["signatures"], strict=True):
        status = entry.find(f"{{{VR}}}SignatureValidationStatus")
        assert status.findtext(f"{{{VR}}}MainIndication") == MAIN[sig["indication"]]
        if sig["sub_indication"]:
            assert status.findtext(f"{{{VR}}}SubIndication").endswith(sig["sub_indication"])
        assert entry.find(f"{{{VR}}}ValidationTimeInfo/{{{VR}}}BestSignatureTime") is not None


def test_changed_pdf_is_total_failed_in_the_xml_report_too(client, key, documents):
    as_json, root, _ = _both(client, key, *documents["pdf-changed-after-sealing"])
    assert as_json["signatures"][0]["modifications"] == "not_allowed"
    assert root.findtext(f".//{{{VR}}}MainIndication") == MAIN["TOTAL_FAILED"]


@pytest.mark.parametrize("case", CASES)
def test_xml_report_validates_against_the_etsi_schema(client, key, documents, case):
    _, _, xml = _both(client, key, *documents[case])
    assert_valid_etsi_report(xml)


def test_schema_check_can_fail(client, key, documents):
    _, root, _ = _both(client, key, *documents["pdf-B-B"])
    status = root.find(f".//{{{VR}}}SignatureValidationStatus")
    status.remove(status.find(f"{{{VR}}}MainIndication"))
    assert schema_problems(etree.tostring(root))
    assert SCHEMA_FILE.name == "1910202xmlSchema.xsd"
