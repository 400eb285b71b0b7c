"""``/metrics`` over real HTTP from ``regca serve`` with two gunicorn workers, parsed with
prometheus-client's own text parser: the counts are the whole server's whichever worker answers
the scrape (multiprocess mode), and the store's numbers are the store's."""

from __future__ import annotations

import datetime as dt
import urllib.request

import pytest
from conftest import RESIDENT, make_csr, make_home
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from prometheus_client.parser import text_string_to_metric_families
from tsa_support import make_query, post, regca_serve, server_workers

from ca.issuance import IssuanceRequest, Issuer
from ca.revocation import RevocationRequest, Revoker

pytestmark = [pytest.mark.hsm, pytest.mark.slow]

OCSP_REQUESTS, TSA_REQUESTS = 9, 5


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics")
    ctx = make_home(tmp / "home")
    issuer = Issuer(ctx)
    serials = [issuer.issue(IssuanceRequest("resident-authentication", make_csr(),
                                            dict(RESIDENT), "test")) for _ in range(3)]
    Revoker(ctx).revoke(RevocationRequest(serials[0].serial, "keyCompromise", "test"))
    request = (ocsp.OCSPRequestBuilder()
               .add_certificate(serials[1].certificate, ctx.certificate_of("issuing-ca"),
                                hashes.SHA1()).build().public_bytes(Encoding.DER))
    with regca_serve(ctx.settings.home, workers=2) as (base, proc):
        assert len(server_workers(proc)) == 2
        for _ in range(OCSP_REQUESTS):
            status, _, _ = post(base + "/ocsp", request, "application/ocsp-request")
            assert status == 200
        for i in range(TSA_REQUESTS):
            query = make_query(tmp, f"q{i}", "-sha256")
            assert post(base + "/tsa", query.read_bytes())[0] == 200
        scrapes = []
        for _ in range(4):  # each on a connection of its own: either worker may answer
            with urllib.request.urlopen(base + "/metrics", timeout=30) as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                scrapes.append(r.read().decode())
    yield ctx, scrapes
    ctx.db.dispose()


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples, name: str, **labels) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_request_counts_are_the_whole_servers_in_every_scrape(scraped):
    _, scrapes = scraped
    for text in scrapes:
        s = _samples(text)
        assert _value(s, "regca_requests_total", service="ocsp", status="200") == OCSP_REQUESTS
        assert _value(s, "regca_requests_total", service="tsa", status="200") == TSA_REQUESTS
        assert _value(s, "regca_request_duration_seconds_count", service="ocsp") == OCSP_REQUESTS
        assert _value(s, "regca_request_duration_seconds_count", service="tsa") == TSA_REQUESTS
        assert _value(s, "regca_request_duration_seconds_sum", service="tsa") > 0


def test_certificates_issued_and_revoked_are_the_stores(scraped):
    _, scrapes = scraped
    s = _samples(scrapes[-1])
    assert _value(s, "regca_certificates_issued_total", profile="resident-authentication") == 3
    assert _value(s, "regca_certificates_revoked_total", profile="resident-authentication") == 1
    assert _value(s, "regca_certificates_issued_total", profile="ocsp-responder") == 1
    assert _value(s, "regca_pending_issuances") == 0
    assert _value(s, "regca_store_up") == 1
    assert ("regca_hsm_errors_total", frozenset()) not in s  # none happened: no series yet


def test_days_to_expiry_of_every_ca_and_service_certificate(scraped):
    ctx, scrapes = scraped
    s = _samples(scrapes[-1])
    now = dt.datetime.now(dt.timezone.utc)
    for name, profile, kind in (("root", "root-ca", "ca"), ("issuing", "issuing-ca", "ca"),
                                ("ocsp", "ocsp-responder", "service"), ("tsa", "tsa", "service"),
                                ("seal", "seal", "service")):
        cert = ctx.certificate_of(profile)
        days = _value(s, "regca_certificate_expiry_days", certificate=name, kind=kind,
                      serial=format(cert.serial_number, "x"))
        assert abs(days - (cert.not_valid_after_utc - now).total_seconds() / 86400) < 0.1


def test_crl_age_of_the_crls_the_jobs_published(scraped):
    _, scrapes = scraped
    s = _samples(scrapes[-1])
    for ca in ("root", "issuing"):
        assert 0 <= _value(s, "regca_crl_age_seconds", ca=ca, type="full") < 3600
        assert _value(s, "regca_crl_next_update_seconds", ca=ca, type="full") > 86400
