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
from ca.store import ocsp as ocsp_store
from regca.scheduler import run_once

pytestmark = pytest.mark.hsm


def cached(ctx, serial, alg="sha1"):
    with ctx.db.reading() as s:
        return ocsp_store.cached(s, serial, alg)


def test_issuance_presigns_sha1_and_sha256_responses(ctx, tmp_path):
    serial, cert, _ = issue(ctx, tmp_path)
    for alg in ("sha1", "sha256"):
        der, this_update, next_update = cached(ctx, serial, alg)
        resp = ocsp.load_der_ocsp_response(der)
        assert resp.serial_number == cert.serial_number
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert resp.hash_algorithm.name == alg
        assert next_update - this_update == dt.timedelta(days=4)


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
    assert cached(ctx, serial) is not None and cached(ctx, serial, "sha256") is not None


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
    for ca in ("root", "issuing"):
        for delta in (False, True):
            crl_path(ctx.settings.crl_dir, ca, delta).unlink(missing_ok=True)
    serial, _, _ = issue(ctx, tmp_path)
    with ctx.db.transaction() as s:
        ocsp_store.invalidate(s, serial)
    run_once(ctx)
    assert all(crl_path(ctx.settings.crl_dir, ca, d).exists()
               for ca in ("root", "issuing") for d in (False, True))
    assert cached(ctx, serial) is not None
