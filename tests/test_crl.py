"""CRLs: complete and delta, published as files and served at /crl/, judged by openssl and
pkilint (RFC 5280 §5)."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import ROOT_PIN, backends, run_cli
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from revocation_support import http, issue, openssl, pkilint_findings, served_on

from ca.crl import CrlPublisher
from ca.issuance import Issuer
from ca.revocation import RevocationRequest, Revoker
from ca.store import certificates as cert_store
from ca.store.models import Certificate

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module", params=backends())
def served(request, tmp_path_factory):
    with served_on(request.param, tmp_path_factory.mktemp(f"crl-{request.param}")) as s:
        yield s


def fetch(served, name: str, tmp_path) -> tuple[x509.CertificateRevocationList, object]:
    status, headers, body = http(f"{served.base}/crl/{name}")
    assert status == 200 and headers["Content-Type"] == "application/pkix-crl"
    (tmp_path / name).write_bytes(body)
    return x509.load_der_x509_crl(body), tmp_path / name


def number(crl) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def entry_reason(crl, serial: str):
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    if entry is None:
        return None
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return "no reason"


def test_openssl_verify_crl_check_rejects_revoked_certificate(served, tmp_path):
    serial, _, revoked = issue(served.ctx, tmp_path, "revoked")
    _, _, good = issue(served.ctx, tmp_path, "good")
    assert run_cli(served.home, "revoke", serial, "--reason", "keyCompromise").code == 0
    assert run_cli(served.home, "crl").code == 0
    _, issuing_crl = fetch(served, "issuing.crl", tmp_path)
    _, root_crl = fetch(served, "root.crl", tmp_path)
    pem = tmp_path / "crls.pem"
    pem.write_text(openssl("crl", "-inform", "DER", "-in", str(issuing_crl)).stdout
                   + openssl("crl", "-inform", "DER", "-in", str(root_crl)).stdout)
    chain = served.certs / "chain.pem"
    done = openssl("verify", "-crl_check_all", "-CAfile", str(chain), "-CRLfile", str(pem),
                   str(revoked), check=False)
    assert done.returncode != 0 and "certificate revoked" in done.stdout + done.stderr
    done = openssl("verify", "-crl_check_all", "-CAfile", str(chain), "-CRLfile", str(pem),
                   str(good))
    assert done.stdout.strip().endswith("OK")


def test_delta_lists_revocation_made_after_last_complete_crl(served, tmp_path):
    run_cli(served.home, "crl", "--ca", "issuing")
    full, full_path = fetch(served, "issuing.crl", tmp_path)
    serial, _, cert = issue(served.ctx, tmp_path)
    run_cli(served.home, "revoke", serial, "--reason", "privilegeWithdrawn")  # publishes a delta
    delta, delta_path = fetch(served, "issuing-delta.crl", tmp_path)
    base = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert base.critical and base.value.crl_number == number(full) < number(delta)
    assert entry_reason(delta, serial) == x509.ReasonFlags.privilege_withdrawn
    assert entry_reason(full, serial) is None
    freshest = full.extensions.get_extension_for_class(x509.FreshestCRL).value
    assert freshest[0].full_name[0].value == f"{served.base}/crl/issuing-delta.crl"
    # openssl itself combines the complete CRL and the delta.
    pem = tmp_path / "both.pem"
    pem.write_text(openssl("crl", "-inform", "DER", "-in", str(full_path)).stdout
                   + openssl("crl", "-inform", "DER", "-in", str(delta_path)).stdout)
    done = openssl("verify", "-crl_check", "-use_deltas", "-CAfile",
                   str(served.certs / "chain.pem"), "-CRLfile", str(pem), str(cert), check=False)
    assert done.returncode != 0 and "certificate revoked" in done.stdout + done.stderr
    for crl_der in (full_path.read_bytes(), delta_path.read_bytes()):
        assert pkilint_findings("crl", crl_der, tmp_path) == []


def test_hold_then_remove_from_crl_end_to_end(served, tmp_path):
    serial, _, cert = issue(served.ctx, tmp_path)
    run_cli(served.home, "revoke", serial, "--reason", "certificateHold")
    run_cli(served.home, "crl", "--ca", "issuing")
    full, _ = fetch(served, "issuing.crl", tmp_path)
    assert entry_reason(full, serial) == x509.ReasonFlags.certificate_hold
    assert run_cli(served.home, "revoke", serial, "--reason", "removeFromCRL").code == 0
    delta, delta_path = fetch(served, "issuing-delta.crl", tmp_path)
    # RFC 5280 §5.3.1: the release appears in the delta as removeFromCRL.
    assert entry_reason(delta, serial) == x509.ReasonFlags.remove_from_crl
    assert pkilint_findings("crl", delta_path.read_bytes(), tmp_path) == []
    run_cli(served.home, "crl", "--ca", "issuing")
    full, _ = fetch(served, "issuing.crl", tmp_path)
    assert entry_reason(full, serial) is None


def test_crl_numbers_only_go_up_and_are_shared_with_deltas(ctx):
    publisher = CrlPublisher(ctx)
    numbers = [publisher.publish("issuing").number,
               publisher.publish("issuing", delta=True).number,
               publisher.publish("issuing").number]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    root_crl = CrlPublisher(ctx.with_root_pin(ROOT_PIN)).publish("root")  # a ceremony's
    crl = x509.load_der_x509_crl(root_crl.path.read_bytes())
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ctx.certificate_of("root-ca").extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert crl.is_signature_valid(ctx.certificate_of("root-ca").public_key())


def test_invalidity_date_and_reason_are_carried(ctx, tmp_path):
    serial, _, _ = issue(ctx, tmp_path)
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    Revoker(ctx).revoke(RevocationRequest(serial, "keyCompromise", "test",
                                          invalidity_date=when))
    crl = x509.load_der_x509_crl(CrlPublisher(ctx).publish("issuing").path.read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry.extensions.get_extension_for_class(x509.InvalidityDate).value \
        .invalidity_date_utc == when
    assert entry_reason(crl, serial) == x509.ReasonFlags.key_compromise
    assert pkilint_findings("crl", crl.public_bytes(Encoding.DER), tmp_path) == []


def test_abandoned_issuance_is_listed_without_reason(ctx):
    serial = "7" + "0" * 30 + "1"
    long_ago = ctx.now() - dt.timedelta(hours=1)
    with ctx.db.transaction() as s:
        cert_store.insert_pending(s, Certificate(
            serial=serial, issuer="issuing", profile="resident-signing", status="pending",
            subject="CN=x", requested_by="test", not_before=long_ago, not_after=ctx.now(),
            tbs=b"tbs", created_at=long_ago))
    assert serial in Issuer(ctx).reconcile()
    publisher = CrlPublisher(ctx)
    delta = x509.load_der_x509_crl(publisher.publish("issuing", delta=True).path.read_bytes())
    assert entry_reason(delta, serial) == "no reason"
    full = x509.load_der_x509_crl(publisher.publish("issuing").path.read_bytes())
    assert entry_reason(full, serial) == "no reason"


def test_cli_crl_delta_and_bad_arguments(ctx):
    done = run_cli(ctx.settings.home, "crl", "--delta")
    assert done.code == 0 and "issuing delta CRL #" in done.out and "root delta" not in done.out
    # The root's CRLs are a ceremony's: asked for here, one line naming the command.
    done = run_cli(ctx.settings.home, "crl", "--ca", "root")
    assert done.code == 1 and "regca ceremony root-crl" in done.err
    assert done.err.count("\n") == 1
    # The CAs are the home's (an issuing-CA ceremony adds one): an unknown one, one line.
    done = run_cli(ctx.settings.home, "crl", "--ca", "nowhere")
    assert done.code == 1 and "no CA named 'nowhere'" in done.err and "issuing" in done.err
    assert done.err.count("\n") == 1


def test_unknown_crl_path_is_404(served):
    status, _, _ = http(f"{served.base}/crl/other.crl")
    assert status == 404


def test_reading_the_crl_state_writes_nothing_while_another_writer_holds_the_lock(ctx):
    """The scheduler reads a CA's CRL state before it knows whether a CRL is due; that read
    must neither create the row nor wait for (or fail on) a writer holding the lock."""
    from sqlalchemy import select

    from ca.store import crl as crl_store
    from ca.store.models import CrlState

    with ctx.db.direct_transaction():  # another writer: holds SQLite's write lock meanwhile
        with ctx.db.reading() as s:
            state = crl_store.peek(s, "not-yet-published")
    assert state.number == 0 and state.base_number is None
    with ctx.db.reading() as s:
        assert s.execute(select(CrlState).where(CrlState.ca == "not-yet-published")
                         ).first() is None
