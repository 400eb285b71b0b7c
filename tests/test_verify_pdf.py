"""PDF verification that cannot be fooled: every signature and document time-stamp in revision
order, what changed after each, and hostile files answered with 4xx. pyHanko's own validator
and pdfsig judge the same fixtures."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from signing_support import resident_with_key, sample_pdf, verdicts_around_revocation

from ra.apikeys import create_api_key
from regca.roles import in_process_timestamper, trust_store

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def key(home):
    return create_api_key(home, "eod", ["sign", "verify"], None)


def post(client, key, path, body, **query):
    return client.post(path, data=body, query_string=query,
                       headers={"Authorization": f"Bearer {key}",
                                "Content-Type": "application/pdf"})


def verify(client, key, body) -> dict:
    resp = post(client, key, "/api/v1/verify", body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


@pytest.fixture(scope="module")
def sealed(client, key):
    """A decision ("odmowa") sealed through the API at B-T."""
    resp = post(client, key, "/api/v1/sign/pdf", sample_pdf(), level="B-T")
    assert resp.status_code == 200
    return resp.get_data()


def _update(data: bytes, change) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _new_page_content(writer: IncrementalPdfFileWriter) -> None:
    """The attack from the issue: the page now points at a new content stream ("zgoda")."""
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Contents"] = writer.add_object(generic.StreamObject(
        stream_data=b"BT /F1 12 Tf 50 700 Td (Decyzja: zgoda) Tj ET\n"))
    writer.update_container(page)


def _stamp(home, data: bytes) -> bytes:
    """A PAdES document time-stamp from RegCA's TSA key, as pyHanko's `sign timestamp` adds."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    out = signers.PdfTimeStamper(in_process_timestamper(home)).timestamp_pdf(
        writer, md_algorithm="sha256")
    return out.getvalue()


def _pyhanko_bottom_line(home, data: bytes) -> list[bool]:
    """pyHanko's own judgement of each signature, with the same trust anchor."""
    vc = trust_store(home).validation_context(fetching=False)
    return [validate_pdf_signature(s, vc, vc).bottom_line
            for s in PdfFileReader(io.BytesIO(data)).embedded_regular_signatures]


def _pdfsig(data: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout


# -- what changed after the seal -------------------------------------------------------------

def test_page_content_changed_after_the_seal_is_not_passed(client, key, home, sealed, tmp_path):
    forged = _update(sealed, _new_page_content)
    assert forged.startswith(sealed)  # the sealed revision itself is intact
    report = verify(client, key, forged)
    sig = report["signatures"][0]
    assert report["indication"] == "TOTAL_FAILED"
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE")
    assert sig["modifications"] == "not_allowed"
    assert sig["covers"] == "revision"
    assert "zmieniono po podpisaniu" in sig["summary"]["pl"]
    assert "changed after it was signed" in sig["summary"]["en"]
    # The judges: pyHanko's bottom line is False; pdfsig sees a valid signature over part of
    # the file only (it does no difference analysis).
    assert _pyhanko_bottom_line(home, forged) == [False]
    out = _pdfsig(forged, tmp_path)
    assert "Signature is Valid" in out and "Not total document signed" in out


def test_untouched_seal_covers_the_whole_document(client, key, home, sealed, tmp_path):
    sig = verify(client, key, sealed)["signatures"][0]
    assert (sig["indication"], sig["modifications"], sig["covers"]) == (
        "TOTAL_PASSED", "none", "whole_document")
    assert sig["kind"] == "signature" and sig["revision"] == 1
    assert _pyhanko_bottom_line(home, sealed) == [True]
    assert "Total document signed" in _pdfsig(sealed, tmp_path)


def test_dss_added_after_the_seal_stays_passed(client, key, home, sealed):
    def add_dss(writer):
        sig = PdfFileReader(io.BytesIO(sealed)).embedded_signatures[0]
        DocumentSecurityStore.supply_dss_in_writer(
            writer, sig.pkcs7_content, certs=list(trust_store(home)._intermediates))
    extended = _update(sealed, add_dss)
    sig = verify(client, key, extended)["signatures"][0]
    assert sig["indication"] == "TOTAL_PASSED"
    assert sig["modifications"] == {"state": "allowed",
                                    "changes": ["validation_data_or_document_timestamps"]}
    assert _pyhanko_bottom_line(home, extended) == [True]


def test_document_timestamp_after_the_seal_is_reported_in_revision_order(client, key, home,
                                                                          sealed, tmp_path):
    stamped = _stamp(home, sealed)
    report = verify(client, key, stamped)
    assert report["indication"] == "TOTAL_PASSED"
    seal, stamp = report["signatures"]
    assert (seal["kind"], seal["revision"], seal["modifications"]["state"]) == (
        "signature", 1, "allowed")
    assert (stamp["kind"], stamp["revision"], stamp["covers"]) == (
        "document_timestamp", 2, "whole_document")
    assert stamp["indication"] == "TOTAL_PASSED"
    assert "RegCA Time-Stamping Unit" in stamp["signed_by"]
    assert stamp["summary"]["en"].startswith("Valid document time-stamp")
    assert _pyhanko_bottom_line(home, stamped) == [True]
    # pdfsig judges the seal (valid, not the whole file) and lists the time-stamp, which it
    # cannot validate ("Unable to validate this type of signature").
    out = _pdfsig(stamped, tmp_path)
    assert out.count("Signature is Valid") == 1 and "Not total document signed" in out
    assert "RegCA Time-Stamping Unit" in out


def test_document_timestamp_alone_is_reported_as_such(client, key, home):
    stamped = _stamp(home, sample_pdf())
    report = verify(client, key, stamped)
    assert report["indication"] == "TOTAL_PASSED"
    [stamp] = report["signatures"]
    assert (stamp["kind"], stamp["covers"], stamp["modifications"]) == (
        "document_timestamp", "whole_document", "none")
    assert stamp["timestamps"][0]["type"] == "document"
    assert "summary" not in report  # never "the document contains no signature"


def test_page_content_changed_after_a_document_timestamp_fails_the_timestamp(client, key, home):
    forged = _update(_stamp(home, sample_pdf()), _new_page_content)
    [stamp] = verify(client, key, forged)["signatures"]
    assert (stamp["indication"], stamp["modifications"]) == ("TOTAL_FAILED", "not_allowed")


def test_second_seal_after_the_first_is_allowed_and_both_pass(client, key, home, sealed):
    twice = post(client, key, "/api/v1/sign/pdf", sealed, level="B-B").get_data()
    first, second = verify(client, key, twice)["signatures"]
    assert first["modifications"] == {
        "state": "allowed", "changes": ["form_filling_or_signatures", "field:Pieczec2"]}
    assert (first["revision"], second["revision"]) == (1, 2)
    assert second["modifications"] == "none"
    assert _pyhanko_bottom_line(home, twice) == [True, True]


# -- hostile files ---------------------------------------------------------------------------

def _with_deep_array(data: bytes, depth: int = 900) -> bytes:
    """An incremental update whose catalogue holds an array nested ``depth`` deep."""
    deep: generic.PdfObject = generic.NullObject()
    for _ in range(depth):
        deep = generic.ArrayObject([deep])

    def add(writer):
        writer.root["/Deep"] = writer.add_object(deep)
        writer.update_root()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20 * depth)  # our writer may go deep; the server must not
    try:
        return _update(data, add)
    finally:
        sys.setrecursionlimit(limit)


def test_deeply_nested_array_after_a_seal_is_a_4xx_not_a_500(client, key, sealed):
    # The difference analysis walks the new object; pyHanko's parser recurses per level.
    resp = post(client, key, "/api/v1/verify", _with_deep_array(sealed))
    assert 400 <= resp.status_code < 500, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == "bad_document"
    assert "nested too deeply" in resp.get_json()["error"]["message"]


def test_deeply_nested_array_in_an_unsigned_pdf_is_no_signature_not_a_500(client, key):
    resp = post(client, key, "/api/v1/verify", _with_deep_array(sample_pdf()))
    assert resp.status_code == 200
    assert resp.get_json()["indication"] == "INDETERMINATE"


@pytest.mark.parametrize("body", [
    b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n",
    b"%PDF-1.7\n" + b"(" * 5000,
    b"%PDF-1.7\nxref\n0 999999999\n",
], ids=["no-xref", "open-strings", "huge-xref"])
def test_malformed_pdfs_are_4xx(client, key, body):
    resp = post(client, key, "/api/v1/verify", body)
    assert 400 <= resp.status_code < 500, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["message"]


def test_signature_contents_replaced_by_garbage_is_reported_not_crashed(client, key, sealed):
    # Overwrite the hex CMS in /Contents with hex that is not DER.
    match = re.search(rb"/Contents <([0-9a-fA-F]+)>", sealed)
    garbage = sealed[:match.start(1)] + b"ff" * ((match.end(1) - match.start(1)) // 2) + \
        sealed[match.end(1):]
    resp = post(client, key, "/api/v1/verify", garbage)
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)
    if resp.status_code == 200:
        assert resp.get_json()["indication"] != "TOTAL_PASSED"


# -- time: revocation after the proven signing time (EN 319 102-1 §5.6.2.4) -------------------

def _signed_by_a_resident(ctx, timestamped: bool) -> tuple[bytes, str]:
    """A resident signs with a software key (playing the token) through pyHanko, PAdES B-T."""
    from asn1crypto import keys
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from signing.seal import to_asn1

    private, issued = resident_with_key(ctx)
    signer = SimpleSigner(
        to_asn1(issued.certificate),
        keys.PrivateKeyInfo.load(private.private_bytes(Encoding.DER, PrivateFormat.PKCS8,
                                                       NoEncryption())),
        SimpleCertificateStore.from_certs([to_asn1(c) for c in ctx.chain()]))
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(sample_pdf())),
        signers.PdfSignatureMetadata(field_name="Mieszkaniec", md_algorithm="sha256",
                                     subfilter=SigSeedSubFilter.PADES),
        signer=signer, timestamper=in_process_timestamper(ctx) if timestamped else None)
    return out.getvalue(), issued.serial


@pytest.mark.parametrize("timestamped, reason, expected", [
    (True, "superseded", ("TOTAL_PASSED", None)),
    (True, "affiliationChanged", ("TOTAL_PASSED", None)),
    (True, "keyCompromise", ("INDETERMINATE", "REVOKED_NO_POE")),
    (False, "superseded", ("INDETERMINATE", "REVOKED_NO_POE")),
], ids=["B-T-superseded", "B-T-affiliationChanged", "B-T-keyCompromise", "B-B-superseded"])
def test_revocation_after_the_signature_timestamp(served, timestamped, reason, expected):
    signed, serial = _signed_by_a_resident(served, timestamped)
    before, sig = verdicts_around_revocation(served, signed, serial, reason, verify)
    assert (before["indication"], before["sub_indication"]) == ("TOTAL_PASSED", None)
    assert (sig["indication"], sig["sub_indication"]) == expected, sig.get("detail")
    if timestamped:
        assert sig["best_signature_time"] == sig["timestamps"][0]["time"]
