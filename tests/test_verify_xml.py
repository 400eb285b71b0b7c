"""XML verification through /api/v1/verify: every signature, what each reference covers, detached
XAdES, signature wrapping, Profil Zaufany and e-dowód, hostile XML. Judged by xmlsec1 where it
can judge."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess

import pytest
from conftest import SAMPLE_XML
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree
from signing_support import resident_with_key, verdicts_around_revocation
from signxml import SignatureConstructionMethod
from signxml.xades import XAdESSigner, XAdESVerifier
from signxml.xades.xades import XAdESSignatureConfiguration, xades_tag

from ra.apikeys import create_api_key
from regca.roles import in_process_timestamper, seal_registry
from regca.roles import signing_app as create_app
from signing.config import SigningConfig
from signing.pl_identity import PPZP, PPZP_OS

pytestmark = pytest.mark.hsm

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
NS = "urn:regca:test:wniosek"
FORM = (f'<Wniosek xmlns="{NS}"><Tresc Id="tresc"><Prosba>wydanie zaświadczenia</Prosba>'
        '</Tresc><Adnotacja>dopisek urzędu, niepodpisany</Adnotacja></Wniosek>').encode()


@pytest.fixture(scope="module")
def key(home):
    return create_api_key(home, "eod", ["sign", "verify"], None)


@pytest.fixture(scope="module")
def seal(home):
    return seal_registry(home).for_principal(None)


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def sign_api(client, key, body: bytes, **query) -> bytes:
    resp = client.post("/api/v1/sign/xml", data=body, query_string=query,
                       headers={**auth(key), "Content-Type": "application/xml"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_data()


def post_verify(client, key, body: bytes):
    resp = client.post("/api/v1/verify", data=body,
                       headers={**auth(key), "Content-Type": "application/xml"})
    assert resp.mimetype == "application/json"
    return resp.status_code, resp.get_json()


def verify(client, key, body: bytes) -> dict:
    status, report = post_verify(client, key, body)
    assert status == 200, report
    return report


def pems(identity) -> list[str]:
    return [c.public_bytes(Encoding.PEM).decode()
            for c in (identity.certificate, *identity.chain[:-1])]


def algorithm(private_key) -> str:
    return "ecdsa-sha256" if isinstance(private_key, ec.EllipticCurvePrivateKey) else "rsa-sha256"


def sign_element(doc: etree._Element, key, certs: list[str], ref: str,
                 signer_type=XAdESSigner, **kwargs) -> etree._Element:
    """A XAdES signature over the element with Id ``ref`` only, made in place at the end of
    ``doc`` (signxml's enveloped placement; the enveloped-signature transform on a reference to
    an element that does not contain the signature removes nothing)."""
    signer = signer_type(method=SignatureConstructionMethod.enveloped,
                         signature_algorithm=algorithm(key), digest_algorithm="sha256",
                         c14n_algorithm=C14N, **kwargs)
    return signer.sign(doc, key=key, cert=certs, reference_uri=f"#{ref}")


def xmlsec1(path, home, tmp_path, nth: int) -> subprocess.CompletedProcess:
    root, issuing = tmp_path / "root.pem", tmp_path / "issuing.pem"
    root.write_bytes(home.certificate_of("root-ca").public_bytes(Encoding.PEM))
    issuing.write_bytes(home.certificate_of("issuing-ca").public_bytes(Encoding.PEM))
    return subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(root), "--untrusted-pem", str(issuing),
         "--id-attr:Id", "SignedProperties", "--id-attr:Id", "KeyInfo",
         "--id-attr:Id", f"{NS}:Tresc",
         "--node-xpath", f"(//*[local-name()='Signature'])[{nth}]", str(path)],
        capture_output=True, text=True)


# -- what was signed ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def element_signed(seal) -> bytes:
    doc = sign_element(etree.fromstring(FORM), seal.key, pems(seal), "tresc")
    return etree.tostring(doc, encoding="UTF-8")


def test_element_signature_reports_only_the_element_as_signed(client, key, element_signed):
    report = verify(client, key, element_signed)
    sig = report["signatures"][0]
    assert (sig["indication"], sig["format"], sig["covers"]) == ("TOTAL_PASSED", "XAdES",
                                                                  "partial")
    kinds = [(o["kind"], o.get("element")) for o in sig["signed_objects"]]
    assert ("element", f"{{{NS}}}Tresc") in kinds
    assert ("signed_properties", f"{{{XADES}}}SignedProperties") in kinds
    assert all(o["digest_ok"] for o in sig["signed_objects"])
    # The unsigned annotation is nowhere among what was signed, and the clerk is told.
    assert not any("Adnotacja" in (o.get("element") or "") for o in sig["signed_objects"])
    assert "tylko część dokumentu (Tresc)" in sig["summary"]["pl"]
    assert "only part of the document (Tresc)" in sig["summary"]["en"]


def test_changing_unsigned_content_keeps_the_signature_and_its_partial_scope(
        client, key, element_signed):
    changed = element_signed.replace(b"niepodpisany", b"ZMIENIONY!!!")
    sig = verify(client, key, changed)["signatures"][0]
    assert (sig["indication"], sig["covers"]) == ("TOTAL_PASSED", "partial")


def test_changing_the_signed_element_is_a_hash_failure(client, key, element_signed):
    changed = element_signed.replace("zaświadczenia".encode(), "zaświadczeniA".encode())
    sig = verify(client, key, changed)["signatures"][0]
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "HASH_FAILURE")
    assert sig["signed_objects"][0]["digest_ok"] is False


@pytest.fixture(scope="module")
def two_signed(client, key, element_signed) -> bytes:
    """The element signature, then the API's enveloped seal over the whole document."""
    return sign_api(client, key, element_signed, level="B-T")


def test_two_signatures_are_both_reported_in_document_order(client, key, two_signed):
    report = verify(client, key, two_signed)
    assert report["indication"] == "TOTAL_PASSED"
    first, second = report["signatures"]
    assert (first["covers"], second["covers"]) == ("partial", "whole_document")
    assert second["signed_objects"][0] == {"kind": "whole_document", "reference": "",
                                           "digest_ok": True}
    assert second["timestamps"][0]["valid"] is True and first["timestamps"] == []


@pytest.mark.parametrize("nth", [1, 2])
def test_xmlsec1_agrees_on_both_signatures(home, two_signed, tmp_path, nth):
    path = tmp_path / "two.xml"
    path.write_bytes(two_signed)
    done = xmlsec1(path, home, tmp_path, nth)
    assert done.returncode == 0, done.stderr


def test_a_change_breaks_only_the_signature_that_covers_it(client, key, two_signed, home,
                                                           tmp_path):
    changed = two_signed.replace(b"niepodpisany", b"ZMIENIONY!!!")
    first, second = verify(client, key, changed)["signatures"]
    assert first["indication"] == "TOTAL_PASSED"
    assert (second["indication"], second["sub_indication"]) == ("TOTAL_FAILED", "HASH_FAILURE")
    (tmp_path / "changed.xml").write_bytes(changed)
    assert xmlsec1(tmp_path / "changed.xml", home, tmp_path, 1).returncode == 0
    assert xmlsec1(tmp_path / "changed.xml", home, tmp_path, 2).returncode != 0


def test_enveloped_form_covers_the_whole_document(client, key):
    signed = sign_api(client, key, SAMPLE_XML.read_bytes(), level="B-B")
    sig = verify(client, key, signed)["signatures"][0]
    assert (sig["indication"], sig["covers"]) == ("TOTAL_PASSED", "whole_document")
    assert [o["kind"] for o in sig["signed_objects"]][:2] == ["whole_document",
                                                              "signed_properties"]
    assert "tylko część" not in sig["summary"]["pl"]


# -- signature wrapping -------------------------------------------------------------------------

def _wrapped(element_signed: bytes, attribute: str) -> bytes:
    doc = etree.fromstring(element_signed)
    evil = etree.Element(f"{{{NS}}}Tresc", {attribute: "tresc"})
    etree.SubElement(evil, f"{{{NS}}}Prosba").text = "odmowa"
    doc.insert(0, evil)
    return etree.tostring(doc, encoding="UTF-8")


@pytest.mark.parametrize("attribute", ["Id", "ID"])
def test_a_second_element_with_the_signed_id_is_a_format_failure(client, key, element_signed,
                                                                 seal, attribute):
    wrapped = _wrapped(element_signed, attribute)
    if attribute == "ID":
        # signxml alone resolves "Id" before "ID" and passes: a reader looking up ID sees
        # "odmowa". The Id must name one element across all the names it may be spelt with.
        XAdESVerifier().verify(wrapped, x509_cert=seal.certificate,
                               expect_config=XAdESSignatureConfiguration(expect_references=3))
    sig = verify(client, key, wrapped)["signatures"][0]
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE")
    assert "ambiguous" in sig["detail"]
    assert "signed_objects" not in sig


def test_reference_to_another_signatures_signed_properties_is_refused(client, key, two_signed):
    doc = etree.fromstring(two_signed)
    first, second = doc.iter(f"{{{DS}}}Signature")
    props_ref = [r for r in second.iter(f"{{{DS}}}Reference")
                 if r.get("Type", "").endswith("SignedProperties")][0]
    other = first.find(f".//{{{XADES}}}SignedProperties").get("Id")
    props_ref.set("URI", f"#{other}")
    sig = verify(client, key, etree.tostring(doc, encoding="UTF-8"))["signatures"][1]
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE")


# -- detached through the API --------------------------------------------------------------------

@pytest.fixture(scope="module")
def detached(client, key) -> bytes:
    return sign_api(client, key, SAMPLE_XML.read_bytes(), level="B-T", packaging="detached")


def post_detached(client, key, signature: bytes, content: bytes, filename="document.xml"):
    import io
    resp = client.post("/api/v1/verify", headers=auth(key), content_type="multipart/form-data",
                       data={"signature": (io.BytesIO(signature), "signature.xml"),
                             "content": (io.BytesIO(content), filename)})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["signatures"]


def test_detached_xades_verifies_through_the_api(client, key, detached):
    [sig] = post_detached(client, key, detached, SAMPLE_XML.read_bytes())
    assert (sig["indication"], sig["format"], sig["covers"]) == ("TOTAL_PASSED", "XAdES",
                                                                  "whole_document")
    assert sig["signed_objects"][0] == {"kind": "detached", "reference": "document.xml",
                                        "digest_ok": True}
    assert sig["timestamps"][0]["valid"] is True


def test_detached_xades_with_changed_content_is_a_hash_failure(client, key, detached):
    changed = SAMPLE_XML.read_bytes().replace(b"Zofia", b"Zofib")
    [sig] = post_detached(client, key, detached, changed)
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "HASH_FAILURE")


def test_detached_content_under_another_name_is_not_taken_for_the_signed_file(
        client, key, detached):
    [sig] = post_detached(client, key, detached, SAMPLE_XML.read_bytes(), filename="inny.xml")
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE",
                                                          "SIGNED_DATA_NOT_FOUND")
    assert "document.xml" in sig["detail"]


def test_detached_xades_without_its_file_is_signed_data_not_found(client, key, detached):
    sig = verify(client, key, detached)["signatures"][0]
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE",
                                                          "SIGNED_DATA_NOT_FOUND")


# -- Profil Zaufany and e-dowód ------------------------------------------------------------------

def synthetic_pesel(stem: str = "8812310123") -> str:
    """A PESEL that passes its check digit and names nobody (a 31 Dec 1988 stem, made up)."""
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    return stem + str((10 - sum(int(d) * w for d, w in zip(stem, weights, strict=True)) % 10) % 10)


def podpis_zp(pesel: str) -> etree._Element:
    pz = etree.Element(f"{{{PPZP}}}PodpisZP", nsmap={"ppZP": PPZP, "os": PPZP_OS})
    person = etree.SubElement(etree.SubElement(pz, f"{{{PPZP}}}DaneZP"),
                              f"{{{PPZP}}}DaneZPOsobyFizycznej")
    etree.SubElement(person, f"{{{PPZP_OS}}}Imie").text = "Testowa"
    etree.SubElement(person, f"{{{PPZP_OS}}}Nazwisko").text = "Osoba-Próbna"
    etree.SubElement(person, f"{{{PPZP_OS}}}PESEL").text = pesel
    data = etree.SubElement(pz, f"{{{PPZP}}}DanePodpisu")
    etree.SubElement(data, f"{{{PPZP}}}IdKontaUzytkownikaEpuap").text = "testowa.osoba"
    return pz


class _ProfilZaufanySigner(XAdESSigner):
    """Puts PodpisZP in xades:ClaimedRole, where the Profil Zaufany service puts it."""

    def add_signer_role(self, signed_signature_properties, sig_root, signing_settings):
        role = etree.SubElement(etree.SubElement(etree.SubElement(
            signed_signature_properties, xades_tag("SignerRole")), xades_tag("ClaimedRoles")),
            xades_tag("ClaimedRole"))
        role.append(podpis_zp(synthetic_pesel()))


def test_profil_zaufany_person_is_reported_apart_from_the_sealer(client, key, seal):
    pesel = [int(d) for d in synthetic_pesel()]  # the PESEL rule: weighted sum ≡ 0 (mod 10)
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3, 1)
    assert sum(d * w for d, w in zip(pesel, weights, strict=True)) % 10 == 0
    doc = sign_element(etree.fromstring(FORM), seal.key, pems(seal), "tresc",
                       signer_type=_ProfilZaufanySigner)
    sig = verify(client, key, etree.tostring(doc, encoding="UTF-8"))["signatures"][0]
    assert sig["indication"] == "TOTAL_PASSED"
    assert sig["profil_zaufany"] == {"given_name": "Testowa", "surname": "Osoba-Próbna",
                                     "pesel": synthetic_pesel(),
                                     "epuap_account": "testowa.osoba"}
    assert "Województwo Lubuskie" in sig["signed_by"] and "Testowa" not in sig["signed_by"]


def test_profil_zaufany_data_outside_the_signature_is_not_reported(client, key, element_signed):
    doc = etree.fromstring(element_signed)
    signature = doc.find(f"{{{DS}}}Signature")
    qp = signature.find(f".//{{{XADES}}}QualifyingProperties")
    unsigned = etree.SubElement(etree.SubElement(qp, f"{{{XADES}}}UnsignedProperties"),
                                f"{{{XADES}}}UnsignedSignatureProperties")
    # In the unsigned properties, and in the unsigned part of the document.
    role = etree.SubElement(etree.SubElement(etree.SubElement(
        unsigned, f"{{{XADES}}}SignerRole"), f"{{{XADES}}}ClaimedRoles"),
        f"{{{XADES}}}ClaimedRole")
    role.append(podpis_zp(synthetic_pesel()))
    doc.find(f"{{{NS}}}Adnotacja").append(podpis_zp(synthetic_pesel()))
    sig = verify(client, key, etree.tostring(doc, encoding="UTF-8"))["signatures"][0]
    assert sig["indication"] == "TOTAL_PASSED"
    assert "profil_zaufany" not in sig


def _personal_signature_ca(tmp_path):
    """A test CA named as the e-dowód's personal-signature CA is (pl.ID Authorization CA under
    pl.ID Root CA), its root made a trust anchor of the test app only."""
    now = dt.datetime.now(dt.timezone.utc)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    names = [x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TEST MSWiA"),
                        x509.NameAttribute(NameOID.COMMON_NAME, cn)])
             for cn in ("pl.ID Root CA TEST", "pl.ID Authorization CA TEST")]
    names.append(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Testowa Osoba-Próbna"),
                            x509.NameAttribute(NameOID.SERIAL_NUMBER,
                                               "PNOPL-" + synthetic_pesel())]))
    certs = []
    for i in range(3):
        ca = i < 2
        builder = (x509.CertificateBuilder().subject_name(names[i])
                   .issuer_name(names[i - 1] if i else names[0])
                   .public_key(keys[i].public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=not ca, content_commitment=not ca, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                       crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
        certs.append(builder.sign(keys[i - 1] if i else keys[0], hashes.SHA256()))
    return certs, keys[2]


def test_personal_signature_certificate_is_recognised(home, key, tmp_path):
    (root, intermediate, leaf), leaf_key = _personal_signature_ca(tmp_path)
    app = create_app(home, SigningConfig(trust_anchors=(root,)),
                     timestamper=in_process_timestamper(home), fetch_revocation=False)
    certs = [c.public_bytes(Encoding.PEM).decode() for c in (leaf, intermediate)]
    doc = sign_element(etree.fromstring(FORM), leaf_key, certs, "tresc")
    sig = verify(app.test_client(), key, etree.tostring(doc, encoding="UTF-8"))["signatures"][0]
    assert sig["indication"] == "TOTAL_PASSED"
    assert sig["personal_signature"] is True
    # The same signature where that CA is not trusted says nothing about it.
    sig = verify(create_app(home, timestamper=in_process_timestamper(home),
                            fetch_revocation=False).test_client(), key,
                 etree.tostring(doc, encoding="UTF-8"))["signatures"][0]
    assert sig["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    assert "personal_signature" not in sig


# -- hostile input -------------------------------------------------------------------------------

HOSTILE_DOCUMENTS = {
    "doctype": b'<!DOCTYPE a><a/>',
    "internal_entity": b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
    "external_entity": b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>',
    "billion_laughs": (b'<!DOCTYPE l [<!ENTITY l0 "ha">'
                       + b"".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">'.encode()
                                  for i in range(1, 10))
                       + b']><l>&l9;</l>'),
    "deep_nesting": b"<a>" * 100_000 + b"</a>" * 100_000,
    "not_xml": b"<a><b></a>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_DOCUMENTS))
def test_hostile_document_is_a_400_json(client, key, name):
    status, body = post_verify(client, key, HOSTILE_DOCUMENTS[name])
    assert status == 400, body
    assert body["error"]["code"] == "bad_document"
    assert "passwd" not in str(body) and "root:" not in str(body)


def test_doctype_is_refused_in_a_detached_signatures_content_too(client, key, detached):
    import io
    resp = client.post("/api/v1/verify", headers=auth(key), content_type="multipart/form-data",
                       data={"signature": (io.BytesIO(detached), "s.xml"),
                             "content": (io.BytesIO(HOSTILE_DOCUMENTS["internal_entity"]),
                                         "document.xml")})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_document"


@pytest.fixture(scope="module")
def form_bt(client, key) -> bytes:
    return sign_api(client, key, SAMPLE_XML.read_bytes(), level="B-T")


def _edit(signed: bytes, change) -> bytes:
    doc = etree.fromstring(signed)
    change(doc.find(f".//{{{DS}}}Signature"))
    return etree.tostring(doc, encoding="UTF-8")


def test_unknown_unsigned_property_is_ignored(client, key, form_bt):
    def add(signature):
        props = signature.find(f".//{{{XADES}}}UnsignedSignatureProperties")
        etree.SubElement(props, f"{{{XADES}}}CosNieznanego").text = "?"
        etree.SubElement(props, "{urn:other}Rozszerzenie").text = "?"
    sig = verify(client, key, _edit(form_bt, add))["signatures"][0]
    assert sig["indication"] == "TOTAL_PASSED" and sig["timestamps"][0]["valid"] is True


def test_non_base64_certificate_is_a_format_failure(client, key, form_bt):
    def spoil(signature):
        signature.find(f".//{{{DS}}}X509Certificate").text = "to nie jest *base64*!"
    sig = verify(client, key, _edit(form_bt, spoil))["signatures"][0]
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE")


@pytest.mark.parametrize("garbage", ["!!!", base64.b64encode(b"\x30\x03\x02\x01").decode(),
                                     base64.b64encode(b"junk" * 50).decode(), ""])
def test_garbage_timestamp_is_an_invalid_timestamp_not_an_error(client, key, form_bt, garbage):
    def spoil(signature):
        signature.find(f".//{{{XADES}}}EncapsulatedTimeStamp").text = garbage
    sig = verify(client, key, _edit(form_bt, spoil))["signatures"][0]
    assert sig["timestamps"] == [{"type": "signature", "time": None, "tsa": None,
                                  "valid": False}]
    assert sig["indication"] == "TOTAL_PASSED"  # still a valid B-B signature


def test_signature_without_signed_info_is_a_format_failure(client, key, form_bt):
    def strip(signature):
        signature.remove(signature.find(f"{{{DS}}}SignedInfo"))
    sig = verify(client, key, _edit(form_bt, strip))["signatures"][0]
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE")
    assert "SignedInfo" in sig["detail"]


def test_unknown_algorithm_and_missing_digest_are_format_failures(client, key, form_bt):
    def unknown(signature):
        signature.find(f".//{{{DS}}}SignatureMethod").set("Algorithm", "urn:nonsense")
    def empty(signature):
        signature.find(f"{{{DS}}}SignatureValue").text = None
    for change in (unknown, empty):
        sig = verify(client, key, _edit(form_bt, change))["signatures"][0]
        assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE")


def test_signature_value_changed_is_sig_crypto_failure(client, key, form_bt):
    def flip(signature):
        node = signature.find(f"{{{DS}}}SignatureValue")
        raw = bytearray(base64.b64decode(node.text))
        raw[10] ^= 1
        node.text = base64.b64encode(bytes(raw)).decode()
    sig = verify(client, key, _edit(form_bt, flip))["signatures"][0]
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "SIG_CRYPTO_FAILURE")


def test_xml_without_signature_says_so(client, key):
    report = verify(client, key, FORM)
    assert report["indication"] == "INDETERMINATE" and report["signatures"] == []



# -- time: revocation after the proven signing time (EN 319 102-1 §5.6.2.4) -----------------------

def _signed_by_a_resident(ctx, level: str) -> tuple[bytes, str]:
    """A resident's certificate with a software key, and the form XAdES-signed with it through
    RegCA's own XAdES code and TSA (in-process)."""
    from dataclasses import replace

    from signing.options import XmlOptions
    from signing.seal import to_asn1
    from signing.xades import XadesSealer

    private, issued = resident_with_key(ctx)
    chain = tuple(ctx.chain())
    identity = replace(seal_registry(ctx).for_principal(None), certificate=issued.certificate,
                       key=private, chain=chain, asn1_certificate=to_asn1(issued.certificate),
                       asn1_chain=tuple(to_asn1(c) for c in chain))
    sealer = XadesSealer(ctx.clock, in_process_timestamper(ctx))
    return (sealer.seal(SAMPLE_XML.read_bytes(), identity, XmlOptions(level=level)).data,
            issued.serial)


@pytest.mark.parametrize("level, reason, expected", [
    ("B-T", "superseded", ("TOTAL_PASSED", None)),
    ("B-T", "affiliationChanged", ("TOTAL_PASSED", None)),
    ("B-T", "cessationOfOperation", ("TOTAL_PASSED", None)),
    ("B-T", "keyCompromise", ("INDETERMINATE", "REVOKED_NO_POE")),
    ("B-B", "superseded", ("INDETERMINATE", "REVOKED_NO_POE")),
])
def test_revocation_after_the_timestamp(served, level, reason, expected):
    signed, serial = _signed_by_a_resident(served, level)
    before, sig = verdicts_around_revocation(served, signed, serial, reason, verify)
    assert (before["indication"], before["sub_indication"]) == ("TOTAL_PASSED", None)
    assert (sig["indication"], sig["sub_indication"]) == expected, sig.get("detail")
    if level == "B-T":
        assert sig["timestamps"][0]["valid"] is True
        assert sig["best_signature_time"] == sig["timestamps"][0]["time"]
