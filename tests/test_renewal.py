"""Renewal without revocation: the old certificate stays `good` at the OCSP responder (asked over
real HTTP) and a PAdES signature made with it still validates through the verification API;
the key is renewed or kept as the profile says; renewal from a CSR, on a registry token and
through the officer's page; each audited."""

from __future__ import annotations

import io
import json
import re

import pytest
from asn1crypto import keys
from conftest import make_csr, new_key
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509 import ocsp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko_certvalidator.registry import SimpleCertificateStore
from revocation_support import post_ocsp
from signing_support import sample_pdf
from sqlalchemy import select
from tokens import MODULE, make_token
from webclient import Visitor, add_staff

from ca.errors import Conflict, Forbidden, InvalidSubject
from ca.store import certificates as cert_store
from ca.store.models import AuditEvent
from ra import enrolment as enrol
from ra import renewal
from ra.apikeys import create_api_key
from ra.token import TokenRef
from regca.roles import enrollment_app, in_process_timestamper, registration_authority, signing_app
from signing.seal import to_asn1

pytestmark = pytest.mark.hsm

JST, OTHER = "0862011", "0861011"
ACTOR = "officer:renewals"


@pytest.fixture(scope="module")
def ra(served):
    return registration_authority(served)


def _enrolment(ra, surname: str) -> int:
    e, _ = enrol.record(ra, enrol.Applicant("resident", JST, "Zofia", surname,
                                            pesel="02270803624",
                                            revocation_password="haslo-do-uniewaznienia"),
                        ACTOR, (JST,))
    return e.id


def _issued(ra, enrolment_id: int, profile: str, key):
    return enrol.issue_from_csr(ra, enrolment_id, profile, make_csr(key), ACTOR, (JST,))


def _ocsp_status(served, cert) -> ocsp.OCSPCertStatus:
    issuer = served.chain()[0]
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    status, _, body = post_ocsp(served.settings.public_url, req.public_bytes(Encoding.DER))
    assert status == 200
    resp = ocsp.load_der_ocsp_response(body)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return resp.certificate_status


def _status(ctx, serial: str) -> str:
    with ctx.db.reading() as s:
        return cert_store.get(s, serial).status


def _pades(served, private, cert) -> bytes:
    signer = signers.SimpleSigner(
        to_asn1(cert),
        keys.PrivateKeyInfo.load(private.private_bytes(Encoding.DER, PrivateFormat.PKCS8,
                                                       NoEncryption())),
        SimpleCertificateStore.from_certs([to_asn1(c) for c in served.chain()]))
    return signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(sample_pdf())),
        signers.PdfSignatureMetadata(field_name="Mieszkaniec", md_algorithm="sha256",
                                     subfilter=SigSeedSubFilter.PADES),
        signer=signer, timestamper=in_process_timestamper(served)).getvalue()


def test_renewal_leaves_the_old_certificate_good_and_its_pades_signature_valid(served, ra):
    enrolment_id = _enrolment(ra, "Odnowiona")
    first_key = new_key()
    old = _issued(ra, enrolment_id, "resident-signing", first_key)
    signed = _pades(served, first_key, old.certificate)
    served.clock.advance(days=1)

    done = renewal.renew_from_csr(ra, old.serial, make_csr(new_key()), ACTOR, (JST,))
    assert done.old_serial == old.serial and done.new_serial != old.serial
    assert done.same_key is False  # resident-signing: renewal_same_key = false
    assert done.certificate.not_valid_after_utc > old.certificate.not_valid_after_utc

    assert _status(served, old.serial) == "issued"
    assert _ocsp_status(served, old.certificate) == ocsp.OCSPCertStatus.GOOD
    assert _ocsp_status(served, done.certificate) == ocsp.OCSPCertStatus.GOOD

    app = signing_app(served, timestamper=in_process_timestamper(served), fetch_revocation=True)
    key = create_api_key(served, "eod-odnowienia", ["verify"], None)
    resp = app.test_client().post("/api/v1/verify", data=signed, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/pdf"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    report = resp.get_json()
    assert report["indication"] == "TOTAL_PASSED", report
    assert report["signatures"][0]["indication"] == "TOTAL_PASSED"

    with served.db.reading() as s:
        event = s.execute(select(AuditEvent).where(
            AuditEvent.action == "certificate.renew",
            AuditEvent.object == f"certificate:{old.serial}")).scalar_one()
    details = json.loads(event.details) if isinstance(event.details, str) else event.details
    assert details["renewed_by"] == done.new_serial and details["via"] == "csr"


@pytest.mark.parametrize("profile, same_key, refused_with", [
    ("resident-signing", True, "renews with a new key"),
    ("resident-authentication", False, "renews with the same key"),
])
def test_a_csr_against_the_profiles_key_rule_is_refused(served, ra, profile, same_key,
                                                         refused_with):
    key = new_key()
    old = _issued(ra, _enrolment(ra, "Klucz"), profile, key)
    with pytest.raises(InvalidSubject, match=refused_with):
        renewal.renew_from_csr(ra, old.serial, make_csr(key if same_key else new_key()),
                               ACTOR, (JST,))


def test_authentication_renews_with_the_same_key(served, ra):
    key = new_key()
    old = _issued(ra, _enrolment(ra, "Uwierzytelniona"), "resident-authentication", key)
    done = renewal.renew_from_csr(ra, old.serial, make_csr(key), ACTOR, (JST,))
    assert done.same_key and done.certificate.public_key() == old.certificate.public_key()
    assert _status(served, old.serial) == "issued"


def test_a_revoked_or_foreign_certificate_is_not_renewed(served, ra):
    old = _issued(ra, _enrolment(ra, "Obca"), "resident-signing", new_key())
    with pytest.raises(Forbidden):
        renewal.renew_from_csr(ra, old.serial, make_csr(new_key()), ACTOR, (OTHER,))
    from ca.revocation import RevocationRequest
    ra.ca.revoke(RevocationRequest(old.serial, "affiliationChanged", ACTOR))
    with pytest.raises(Conflict, match="revoked"):
        renewal.renew_from_csr(ra, old.serial, make_csr(new_key()), ACTOR, (JST,))


def test_renewal_on_a_token_makes_a_new_signing_key_and_keeps_the_authentication_key(
        served, ra, tmp_path):
    token = make_token(tmp_path / "station", label="Karta odnowienia")
    ref = TokenRef(MODULE, token.label, str(token.conf))
    enrolment_id = _enrolment(ra, "Tokenowa")
    _, done = enrol.personalise_token(ra, enrolment_id, ("resident-signing",
                                                         "resident-authentication"),
                                      ref, token.pin, ACTOR, (JST,))
    old = {d.profile: d for d in done}
    signing = renewal.renew_on_token(ra, old["resident-signing"].issued.serial, ref, token.pin,
                                     ACTOR, (JST,))
    auth = renewal.renew_on_token(ra, old["resident-authentication"].issued.serial, ref,
                                  token.pin, ACTOR, (JST,))
    assert (signing.same_key, auth.same_key) == (False, True)
    objects = token.objects()
    private = sorted(o["label"] for o in objects if o["kind"].startswith("Private Key"))
    assert private == ["resident-authentication", "resident-signing", "resident-signing-2"]
    auth_id = old["resident-authentication"].key_id.hex()
    assert len([o for o in objects if o["kind"].startswith("Certificate")
                and o["id"] == auth_id]) == 2  # old and new certificate beside the one key
    for d in done:
        assert _status(served, d.issued.serial) == "issued"


def test_officer_renews_from_a_csr_on_the_enrolment_page(served, ra):
    secret = add_staff(served, "odnawiajacy", "officer", [JST])
    app = enrollment_app(served)
    v = Visitor(app, served).login("odnawiajacy", secret)
    enrolment_id = _enrolment(ra, "Przezokienna")
    old = _issued(ra, enrolment_id, "resident-signing", new_key())
    page = v.get(f"/enrolments/{enrolment_id}").text
    assert 'id="renew-h"' in page and f'value="{old.serial}"' in page
    form = v.form_tokens(f"/enrolments/{enrolment_id}")

    def renew_once_more():
        return v.post(f"/enrolments/{enrolment_id}/renew", {
            **form, "renew-serial": old.serial,
            "renew-csr": (io.BytesIO(make_csr(new_key())), "odnowienie.pem")})
    r = renew_once_more()
    assert r.status_code == 303, r.text
    page = v.get(r.headers["Location"]).text
    assert re.search(rf'id="renewed">Odnowiono certyfikat <code>{old.serial}</code>', page)
    assert _status(served, old.serial) == "issued"
    again = renew_once_more()  # the same form sent again (a double click): its first result
    assert again.status_code == 303 and again.headers["Location"] == r.headers["Location"]
    nothing = v.post(f"/enrolments/{enrolment_id}/renew", {"renew-serial": old.serial},
                     form_page=f"/enrolments/{enrolment_id}")
    assert nothing.status_code == 400 and "Dołącz plik CSR albo podaj PIN" in nothing.text
    assert 'id="renew-csr-error"' in nothing.text  # next to the file field, on the same page
    garbage = v.post(f"/enrolments/{enrolment_id}/renew", {
        "renew-serial": old.serial, "renew-csr": (io.BytesIO(b"to nie jest CSR"), "zly.csr")},
        form_page=f"/enrolments/{enrolment_id}")  # the core's refusal, said in Polish
    assert garbage.status_code == 400, garbage.status_code
    error = re.search(r'id="renew-csr-error">(.*?)</p>', garbage.text, re.S)[1]
    assert "Plik nie jest żądaniem CSR (PKCS#10, PEM lub DER)." in error
    auditor = Visitor(app, served).login("rewizor", add_staff(served, "rewizor", "auditor"))
    refused = auditor.post(f"/enrolments/{enrolment_id}/renew", {"renew-serial": old.serial},
                           form_page="/enrolments")
    assert refused.status_code == 403
