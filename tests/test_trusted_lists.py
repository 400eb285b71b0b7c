"""EU trusted lists: the real LOTL and Belgium's list, generated lists through `regca trust
refresh`, and the qualification of a certificate at a signature time."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from conftest import PINNED, make_home, run_cli
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.validation.qualified.eutl_parse import (
    TLReference,
    latest_known_lotl_tlso_certs,
    parse_lotl_unsafe,
)
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from trusted_list_support import (
    FOR_ESEALS,
    FOR_ESIGNATURES,
    issue_qualified,
    make_ca,
    make_signer,
    pin_lotl_signer,
    write_trusted_lists,
)

from signing.errors import TrustedListRefused
from signing.qualification import qualification_of, trust_manager
from signing.trusted_list_store import load_registry, read_index, trust_dir
from signing.trusted_lists import (
    TrustedListsConfig,
    _national_pointers,
    refresh,
    verify_lotl,
    verify_national_list,
)

DATA = Path(__file__).parent / "data" / "trusted-lists"
pytestmark = pytest.mark.hsm  # the command tests refresh into a home with SoftHSM2 tokens


def _asn1(cert) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


# -- the real EU LOTL and Belgium's list ----------------------------------------------------------

@pytest.fixture(scope="module")
def real_lotl() -> bytes:
    return (DATA / "eu-lotl.xml").read_bytes()


def _issued(data: bytes) -> dt.datetime:
    return parse_lotl_unsafe(data.decode()).claimed_date_issued


def test_real_lotl_signature_verifies_against_pyhankos_pinned_ojeu_certificates(real_lotl):
    result = verify_lotl(real_lotl, latest_known_lotl_tlso_certs(), _issued(real_lotl))
    territories = {ref.territory for ref in result.references}
    assert {"BE", "PL", "DE", "FR"} <= territories
    assert len(_national_pointers(result)) >= 27


def test_real_lotl_with_one_byte_changed_is_refused(real_lotl):
    forged = real_lotl.replace(b"<TSLSequenceNumber>388<", b"<TSLSequenceNumber>389<", 1)
    assert forged != real_lotl and len(forged) == len(real_lotl)
    with pytest.raises(TrustedListRefused, match="LOTL"):
        verify_lotl(forged, latest_known_lotl_tlso_certs(), _issued(real_lotl))


def test_real_lotl_is_refused_against_other_pinned_signers(real_lotl):
    with pytest.raises(TrustedListRefused):
        verify_lotl(real_lotl, [_asn1(make_signer("not the Commission").cert)],
                    _issued(real_lotl))


def _be_pointer(real_lotl) -> TLReference:
    result = verify_lotl(real_lotl, latest_known_lotl_tlso_certs(), _issued(real_lotl))
    return _national_pointers(result)["BE"]


def test_belgian_list_verifies_against_the_certificates_the_lotl_pointer_names(real_lotl):
    be = (DATA / "tsl-be.xml").read_bytes()
    issued = dt.datetime(2026, 6, 15, 15, 0, tzinfo=dt.timezone.utc)  # its ListIssueDateTime
    item = verify_national_list(be, _be_pointer(real_lotl), issued)
    assert item.territory == "BE" and item.issued == issued
    assert item.services > 100
    assert item.next_update == dt.datetime(2026, 12, 15, 16, 0, tzinfo=dt.timezone.utc)


def test_belgian_list_is_refused_against_another_territorys_pointer(real_lotl):
    result = verify_lotl(real_lotl, latest_known_lotl_tlso_certs(), _issued(real_lotl))
    fr = _national_pointers(result)["FR"]
    be = (DATA / "tsl-be.xml").read_bytes()
    wrong = TLReference(fr.location_uri, "BE", fr.tlso_certs, fr.scheme_rules)
    with pytest.raises(TrustedListRefused, match="pinned signer"):
        verify_national_list(be, wrong, dt.datetime(2026, 6, 15, 15, 0, tzinfo=dt.timezone.utc))


# -- generated lists through the command ---------------------------------------------------------

@pytest.fixture(scope="module")
def lotl_signer():
    return make_signer("Test LOTL scheme operator", PINNED)


@pytest.fixture(scope="module")
def home(tmp_path_factory, lotl_signer):
    path = tmp_path_factory.mktemp("trust-home")
    ctx = make_home(path)
    pem = path / "lotl-signer.pem"
    pem.write_bytes(lotl_signer.cert.public_bytes(Encoding.PEM))
    pin_lotl_signer(path, pem)
    return ctx


@pytest.fixture(scope="module")
def qca():
    return make_ca("Test Qualified CA", PINNED)


def _refresh(home, lists):
    return run_cli(home.settings.home, "trust", "refresh", "--lotl", str(lists.lotl),
                   "--tl", str(lists.tl))


def _path(ee, ca, tm, moment):
    vc = ValidationContext(trust_manager=tm, other_certs=[_asn1(ca.cert)], moment=moment,
                           allow_fetching=False, revocation_mode="soft-fail")
    return asyncio.run(CertificateValidator(_asn1(ee), validation_context=vc)
                       .async_validate_path())


def test_refresh_stores_the_lists_and_a_qes_from_the_listed_ca_is_qualified(
        home, qca, lotl_signer, tmp_path):
    lists = write_trusted_lists(tmp_path, qca.cert, at=PINNED, lotl_signer=lotl_signer)
    done = _refresh(home, lists)
    assert done.code == 0, done.err
    assert "PL\t1 services\tnext update" in done.out
    index = read_index(home.settings.home)
    assert set(index["lists"]) == {"PL"}
    assert (trust_dir(home.settings.home) / "tl-PL.xml").read_bytes() == lists.tl.read_bytes()

    registry = load_registry(home.settings.home, wait=True)
    ee = issue_qualified(qca, "Jan Kowalski", at=PINNED)
    path = _path(ee, qca, trust_manager([home.certificate_of("root-ca")], registry), PINNED)
    q = qualification_of(path, PINNED, registry)
    assert (q.level, q.qualified_certificate, q.qscd, q.certificate_type,
            q.trust_service) == ("QES", True, True, "esign", "Test qualified CA")


@pytest.mark.parametrize("qc_type, qscd, service_type, level", [
    ("qct_eseal", True, FOR_ESEALS, "QESeal"),
    ("qct_esign", False, FOR_ESIGNATURES, "AdES-QC"),
])
def test_seal_and_non_qscd_certificates_get_their_levels(home, qca, lotl_signer, tmp_path,
                                                          qc_type, qscd, service_type, level):
    lists = write_trusted_lists(tmp_path, qca.cert, at=PINNED, lotl_signer=lotl_signer,
                                cert_type=service_type)
    assert _refresh(home, lists).code == 0
    registry = load_registry(home.settings.home, wait=True)
    ee = issue_qualified(qca, "Urząd Gminy", qc_type=qc_type, qscd=qscd, at=PINNED)
    path = _path(ee, qca, trust_manager([], registry), PINNED)
    assert qualification_of(path, PINNED, registry).level == level


def test_ca_withdrawn_before_the_signing_time_is_not_qualified_but_was_before(
        home, qca, lotl_signer, tmp_path):
    withdrawn = PINNED - dt.timedelta(days=30)
    lists = write_trusted_lists(tmp_path, qca.cert, at=PINNED, lotl_signer=lotl_signer,
                                granted_from=PINNED - dt.timedelta(days=300),
                                withdrawn_at=withdrawn)
    assert _refresh(home, lists).code == 0
    registry = load_registry(home.settings.home, wait=True)
    ee = issue_qualified(qca, "Jan Kowalski", at=PINNED)
    earlier = withdrawn - dt.timedelta(days=30)
    path = _path(ee, qca, trust_manager([], registry), earlier)
    after = qualification_of(path, PINNED, registry)
    assert (after.level, after.qualified_certificate) == ("AdES", False)
    assert qualification_of(path, earlier, registry).level == "QES"


def test_regca_own_chain_still_builds_and_is_not_qualified(home, qca, lotl_signer, tmp_path):
    lists = write_trusted_lists(tmp_path, qca.cert, at=PINNED, lotl_signer=lotl_signer)
    assert _refresh(home, lists).code == 0
    registry = load_registry(home.settings.home, wait=True)
    issuing = home.certificate_of("issuing-ca")
    vc = ValidationContext(trust_manager=trust_manager([home.certificate_of("root-ca")],
                                                       registry),
                           moment=PINNED, allow_fetching=False, revocation_mode="soft-fail")
    path = asyncio.run(CertificateValidator(_asn1(issuing), validation_context=vc)
                       .async_validate_path())
    assert path.trust_anchor.authority.name == _asn1(home.certificate_of("root-ca")).subject
    assert qualification_of(path, PINNED, registry).level == "AdES"


def test_without_stored_lists_qualification_is_unknown(qca):
    assert qualification_of(None, PINNED, None).level == "unknown"  # type: ignore[arg-type]


def test_registry_is_reloaded_when_a_refresh_replaces_the_index(home, lotl_signer, tmp_path):
    first_ca, second_ca = make_ca("First CA", PINNED), make_ca("Second CA", PINNED)
    assert _refresh(home, write_trusted_lists(tmp_path / "1", first_ca.cert, at=PINNED,
                                              lotl_signer=lotl_signer)).code == 0
    before = load_registry(home.settings.home, wait=True)
    assert load_registry(home.settings.home) is before  # cached while the index is unchanged
    assert _refresh(home, write_trusted_lists(tmp_path / "2", second_ca.cert, at=PINNED,
                                              lotl_signer=lotl_signer)).code == 0
    # A worker that already has a registry keeps answering with it while the new one loads.
    assert load_registry(home.settings.home) is before
    deadline = time.monotonic() + 30
    while (after := load_registry(home.settings.home)) is before and time.monotonic() < deadline:
        time.sleep(0.05)
    names = {a.name.human_friendly for a in after.known_certificate_authorities}
    assert after is not before
    assert names == {_asn1(second_ca.cert).subject.human_friendly}


def test_list_signed_by_a_key_the_lotl_does_not_name_is_refused_and_not_stored(
        home, qca, lotl_signer, tmp_path):
    lists = write_trusted_lists(tmp_path, qca.cert, at=PINNED, lotl_signer=lotl_signer,
                                named_signer=make_signer("The operator the LOTL names"))
    done = _refresh(home, lists)
    assert done.code == 2
    assert "refused: PL:" in done.err and "pinned signer" in done.err
    assert "Traceback" not in done.err
    assert read_index(home.settings.home)["lists"] == {}
    assert not (trust_dir(home.settings.home) / "tl-PL.xml").exists()
    assert not list((trust_dir(home.settings.home) / "content").glob("PL-*.xml"))


def test_list_with_one_byte_changed_is_refused(home, qca, lotl_signer, tmp_path):
    lists = write_trusted_lists(tmp_path, qca.cert, at=PINNED, lotl_signer=lotl_signer)
    lists.tl.write_bytes(lists.tl.read_bytes().replace(b"Test QTSP", b"Test QTSQ", 1))
    done = _refresh(home, lists)
    assert done.code == 2 and "refused: PL:" in done.err


def test_lotl_signed_by_an_unpinned_key_fails_and_keeps_the_stored_set(
        home, qca, lotl_signer, tmp_path):
    assert _refresh(home, write_trusted_lists(tmp_path / "ok", qca.cert, at=PINNED,
                                              lotl_signer=lotl_signer)).code == 0
    before = read_index(home.settings.home)
    rogue = write_trusted_lists(tmp_path / "rogue", qca.cert, at=PINNED)  # its own LOTL signer
    done = _refresh(home, rogue)
    assert done.code == 1
    assert done.err.count("\n") == 1 and done.err.startswith("regca: error: LOTL:")
    assert read_index(home.settings.home) == before


# -- hostile or broken input ---------------------------------------------------------------------

XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE TrustServiceStatusList [\n'
       b'  <!ENTITY leak SYSTEM "file:///etc/passwd">]>\n'
       b'<TrustServiceStatusList xmlns="http://uri.etsi.org/02231/v2#">'
       b'<SchemeInformation><SchemeTerritory>&leak;</SchemeTerritory></SchemeInformation>'
       b'</TrustServiceStatusList>')


@pytest.mark.parametrize("content, message", [
    (None, "No such file"),
    (b"<TrustServiceStatusList xmlns='http://uri.etsi.org/02231/v2#'><unclosed>",
     "not well-formed XML"),
    (XXE, "DTD is not allowed"),
    (b"<html/>", "not an ETSI TS 119 612"),
])
def test_bad_lotl_is_one_line_error(home, tmp_path, content, message):
    path = tmp_path / "lotl.xml"
    if content is not None:
        path.write_bytes(content)
    done = run_cli(home.settings.home, "trust", "refresh", "--lotl", str(path))
    assert done.code == 1
    assert message in done.err and done.err.count("\n") == 1
    assert "root:" not in done.err and "Traceback" not in done.err


def test_national_list_with_a_dtd_is_refused(home, qca, lotl_signer, tmp_path):
    lists = write_trusted_lists(tmp_path, qca.cert, at=PINNED, lotl_signer=lotl_signer)
    lists.tl.write_bytes(XXE)
    done = _refresh(home, lists)
    assert done.code == 2 and "root:" not in done.err
    assert f"refused: {lists.tl}: list: a DTD is not allowed" in done.err


@pytest.mark.hsm
def test_list_for_a_territory_the_lotl_does_not_point_to_is_refused(home, qca, lotl_signer,
                                                                    tmp_path):
    lists = write_trusted_lists(tmp_path, qca.cert, at=PINNED, lotl_signer=lotl_signer)
    other = write_trusted_lists(tmp_path / "de", qca.cert, territory="DE", at=PINNED)
    done = run_cli(home.settings.home, "trust", "refresh", "--lotl", str(lists.lotl),
                   "--tl", str(lists.tl), str(other.tl))
    assert done.code == 2 and "refused: DE: the LOTL has no pointer" in done.err
    assert set(read_index(home.settings.home)["lists"]) == {"PL"}


def test_plain_http_lotl_url_is_refused_without_a_request(home):
    done = run_cli(home.settings.home, "trust", "refresh", "--lotl", "http://127.0.0.1:9/lotl")
    assert done.code == 1 and "only https" in done.err


def test_list_over_the_size_cap_is_refused(home, qca, lotl_signer, tmp_path):
    lists = write_trusted_lists(tmp_path, qca.cert, at=PINNED, lotl_signer=lotl_signer)
    config = TrustedListsConfig(lotl_signers=(_asn1(lotl_signer.cert),), max_bytes=1000)
    with pytest.raises(TrustedListRefused, match="larger than 1000 bytes"):
        refresh(home.settings, home.now(), str(lists.lotl), [lists.tl], config=config)


def test_index_records_what_was_loaded(home, qca, lotl_signer, tmp_path):
    lists = write_trusted_lists(tmp_path, qca.cert, at=PINNED, lotl_signer=lotl_signer)
    assert _refresh(home, lists).code == 0
    index = json.loads((trust_dir(home.settings.home) / "index.json").read_text())
    pl = index["lists"]["PL"]
    assert pl["source"] == str(lists.tl) and pl["services"] == 1
    assert pl["next_update"] == (PINNED + dt.timedelta(days=180)).isoformat()
    assert index["lotl"]["source"] == str(lists.lotl)
    assert index["loaded_at"] is not None
