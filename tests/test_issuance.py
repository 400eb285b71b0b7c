"""Issuance through the core: the certificate, its chain, its row and its audit event."""

from __future__ import annotations

import subprocess

import pytest
from conftest import make_csr, new_key
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ca.errors import Forbidden, InvalidSubject, UnknownProfile
from ca.issuance import IssuanceRequest, Issuer
from ca.store import certificates as cert_store
from ca.store.audit import verify_chain

pytestmark = pytest.mark.hsm


def _issue(ctx, profile, subject, key=None, **kw):
    return Issuer(ctx).issue(IssuanceRequest(profile=profile, csr=make_csr(key), subject=subject,
                                             actor="test", **kw))


def test_resident_certificate_carries_pesel_semantics_identifier(ctx, resident_subject):
    issued = _issue(ctx, "resident-signing", resident_subject)
    subject = issued.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "PNOPL-02270803624"
    assert subject.get_attributes_for_oid(NameOID.GIVEN_NAME)[0].value == "Zofia"
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "PL"
    assert not subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)


def test_identity_document_replaces_pesel_in_subject(ctx, resident_subject):
    resident_subject["identity_document"] = {"type": "IDC", "number": "ABC123456"}
    issued = _issue(ctx, "resident-authentication", resident_subject)
    serial_attr = issued.certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    assert serial_attr[0].value == "IDCPL-ABC123456"
    assert "02270803624" not in issued.certificate.subject.rfc4514_string()


def test_staff_certificate_names_jst_with_vat_identifier(ctx, staff_subject):
    cert = _issue(ctx, "staff-signing", staff_subject).certificate
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "Gmina Miasto Zielona Góra"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == \
        "VATPL-9291004928"
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    # ETSI EN 319 412-2 §4.3.2: a signing certificate has nonRepudiation alone, no mix.
    assert ku.content_commitment and not ku.digital_signature and not ku.key_cert_sign


def test_certificate_urls_come_from_public_url(ctx, staff_subject):
    cert = _issue(ctx, "staff-authentication", staff_subject).certificate
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    urls = {d.access_method._name: d.access_location.value for d in aia}
    assert urls == {"OCSP": "http://127.0.0.1:8080/ocsp",
                    "caIssuers": "http://127.0.0.1:8080/ca/issuing.crt"}
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == "http://127.0.0.1:8080/crl/issuing.crl"
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [q for p in policies for q in p.policy_qualifiers or ()] == \
        ["http://127.0.0.1:8080/cps"]


def test_issued_row_and_audit_event_are_recorded(ctx, staff_subject):
    issued = _issue(ctx, "staff-signing", staff_subject)
    with ctx.db.reading() as s:
        row = cert_store.get(s, issued.serial)
        assert row.status == "issued"
        assert row.der == issued.certificate.public_bytes(Encoding.DER)
        assert row.organization_teryt == "0862011"
        count, problems = verify_chain(s)
    assert problems == [] and count > 0


def test_serials_are_random_positive_and_at_least_64_bits(ctx, resident_subject):
    serials = [_issue(ctx, "resident-signing", resident_subject).certificate.serial_number
               for _ in range(5)]
    assert len(set(serials)) == 5
    assert all(0 < s < 2 ** 159 and s.bit_length() > 64 for s in serials)


@pytest.mark.parametrize("kind", ["ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-3072"])
def test_allowed_key_types_are_certified(ctx, resident_subject, kind):
    key = new_key(kind)
    issued = _issue(ctx, "resident-signing", resident_subject, key=key)
    assert issued.certificate.public_key().public_numbers() == key.public_key().public_numbers()


def test_chain_verifies_with_openssl(ctx, staff_subject, tmp_path):
    issued = _issue(ctx, "staff-signing", staff_subject)
    (tmp_path / "ee.pem").write_bytes(issued.certificate.public_bytes(Encoding.PEM))
    (tmp_path / "chain.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM)
                                                  for c in issued.chain))
    done = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "chain.pem"),
                           str(tmp_path / "ee.pem")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("OK")


def test_unknown_teryt_is_refused(ctx, staff_subject):
    staff_subject["organization_teryt"] = "0262011"
    with pytest.raises(InvalidSubject, match="organization_teryt"):
        _issue(ctx, "staff-signing", staff_subject)


def test_service_profile_is_not_issued_to_subscribers(ctx, resident_subject):
    with pytest.raises(UnknownProfile):
        _issue(ctx, "ocsp-responder", resident_subject)


def test_key_bound_to_one_jst_cannot_issue_for_another(ctx, staff_subject):
    with pytest.raises(Forbidden):
        _issue(ctx, "staff-signing", staff_subject, scope_teryt="0861011")
