"""Pre-signed responses over time: made at issuance, refreshed past half their validity by
`regca ocsp refresh` and the serve job, replaced at once on revocation."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import PINNED, run_cli
from cryptography.x509 import ocsp
from revocation_support import issue

from ca.clock import FixedClock
from ca.context import CaContext
from ca.crl import crl_path
from ca.ocsp_cache import ResponseCache
from ca.revocation import RevocationRequest, Revoker
from ca.serials import serial_hex
from ca.store import ocsp as ocsp_store
from regca.scheduler import run_once

pytestmark = pytest.mark.hsm


def cached(ctx, serial, alg="sha1"):
    with ctx.db.reading() as s:
        return ocsp_store.cached(s, serial, alg)


def test_issuance_presigns_the_sha1_response_only(ctx, tmp_path):
    """RFC 5019's SHA-1 CertID, what OpenSSL, pyHanko and browsers send; a SHA-256 one is
    signed on its first request (tests/test_ocsp.py)."""
    serial, cert, _ = issue(ctx, tmp_path)
    der, this_update, next_update = cached(ctx, serial, "sha1")
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.serial_number == cert.serial_number
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert resp.hash_algorithm.name == "sha1"
    assert next_update - this_update == dt.timedelta(days=4)
    assert cached(ctx, serial, "sha256") is None


def test_the_offline_roots_responses_are_presigned_for_both_hashes(ctx):
    """The root signs nothing on demand, so its certificates' responses all exist."""
    issuing = serial_hex(ctx.certificate_of("issuing-ca").serial_number)
    for alg in ("sha1", "sha256"):
        resp = ocsp.load_der_ocsp_response(cached(ctx, issuing, alg)[0])
        assert resp.hash_algorithm.name == alg
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD


def test_revocation_replaces_responses_in_the_same_transaction(ctx, tmp_path):
    serial, _, _ = issue(ctx, tmp_path)
    Revoker(ctx).revoke(RevocationRequest(serial, "cessationOfOperation", "test"))
    resp = ocsp.load_der_ocsp_response(cached(ctx, serial)[0])
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason.value == "cessationOfOperation"


def test_cli_refresh_signs_missing_responses(ctx, tmp_path):
    serial, _, _ = issue(ctx, tmp_path)
    with ctx.db.transaction() as s:
        ocsp_store.invalidate(s, serial)
    done = run_cli(ctx.settings.home, "ocsp", "refresh", "--ca", "issuing")
    assert done.code == 0 and "issuing:" in done.out
    assert cached(ctx, serial) is not None
    assert cached(ctx, serial, "sha256") is None  # not pre-signed: left to a first request


def test_refresh_keeps_a_requested_sha256_response_fresh(ctx, tmp_path):
    serial, _, _ = issue(ctx, tmp_path)
    cache = ResponseCache(ctx)
    row = (serial, "issuing", "issued", None, None)
    assert cache.save_current([(row, r) for r in cache.responses_for(row, ("sha256",))]) == 1
    much_later = CaContext.open(ctx.settings.home, FixedClock(PINNED + dt.timedelta(days=3)))
    ResponseCache(much_later).refresh(issuers=["issuing"])
    assert cached(ctx, serial, "sha256")[1] == PINNED + dt.timedelta(days=3)


def test_refresh_resigns_only_past_half_validity(ctx, tmp_path):
    serial, _, _ = issue(ctx, tmp_path)
    later = CaContext.open(ctx.settings.home, FixedClock(PINNED + dt.timedelta(days=1)))
    ResponseCache(later).refresh(issuers=["issuing"])
    assert cached(ctx, serial)[1] == PINNED  # 3 of 4 days left: kept
    much_later = CaContext.open(ctx.settings.home, FixedClock(PINNED + dt.timedelta(days=3)))
    signed = ResponseCache(much_later).refresh(issuers=["issuing"])
    assert signed["issuing"] > 0
    assert cached(ctx, serial)[1] == PINNED + dt.timedelta(days=3)


def test_serve_job_publishes_missing_crls_and_refreshes(ctx, tmp_path):
    for delta in (False, True):
        crl_path(ctx.settings.crl_dir, "issuing", delta).unlink(missing_ok=True)
    root_crl = crl_path(ctx.settings.crl_dir, "root", False).read_bytes()
    serial, _, _ = issue(ctx, tmp_path)
    with ctx.db.transaction() as s:
        ocsp_store.invalidate(s, serial)
    run_once(ctx)
    assert all(crl_path(ctx.settings.crl_dir, "issuing", d).exists() for d in (False, True))
    assert cached(ctx, serial) is not None
    # The root's CRL is the last ceremony's, untouched (tests/test_root_ceremony.py).
    assert crl_path(ctx.settings.crl_dir, "root", False).read_bytes() == root_crl
