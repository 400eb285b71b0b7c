"""Prompt revocation: a revocation reaches the complete CRL within seconds, whoever revokes,
and CRLs and CA certificates are served with HEAD, validators, conditional GET and cache
headers bounded by what they say themselves; through the real `regca serve` and HTTP."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time

import pytest
from conftest import RESIDENT, make_csr, run_cli
from cryptography import x509
from revocation_support import http, issue, openssl, serve_home, stop

from ca.crl import CrlPublisher
from ca.issuance import IssuanceRequest, Issuer
from ca.prompt_crl import PromptCrlPublisher
from ca.revocation import RevocationRequest, Revoker
from ra.apikeys import create_api_key
from regca.crls import CRL_MAX_AGE

pytestmark = pytest.mark.hsm

DEADLINE = 10.0  # seconds from revocation to the complete CRL listing it (issue 14)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    s = serve_home(tmp_path_factory.mktemp("prompt-crl"), None)
    yield s
    stop(s.process)
    s.ctx.db.dispose()


def _wait_until_listed(served, serial: str) -> bytes:
    start = time.monotonic()
    while time.monotonic() - start < DEADLINE:
        _, _, body = http(f"{served.base}/crl/issuing.crl")
        crl = x509.load_der_x509_crl(body)
        if crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None:
            return body
        time.sleep(0.2)
    raise AssertionError(f"the complete CRL did not list {serial} within {DEADLINE} s")


def _openssl_without_deltas(served, tmp_path, cert_path, crl_der: bytes):
    crl = tmp_path / "issuing-crl.pem"
    crl.write_text(openssl("crl", "-inform", "DER", "-in", _save(tmp_path, crl_der)).stdout)
    return openssl("verify", "-crl_check", "-CAfile", str(served.certs / "chain.pem"),
                   "-CRLfile", str(crl), str(cert_path), check=False)


def _save(tmp_path, der: bytes) -> str:
    path = tmp_path / "crl.der"
    path.write_bytes(der)
    return str(path)


def test_cli_revoke_reaches_the_complete_crl_within_seconds(served, tmp_path):
    serial, _, cert_path = issue(served.ctx, tmp_path)
    assert run_cli(served.home, "revoke", serial, "--reason", "keyCompromise").code == 0
    der = _wait_until_listed(served, serial)
    done = _openssl_without_deltas(served, tmp_path, cert_path, der)
    assert done.returncode != 0
    assert "certificate revoked" in done.stdout + done.stderr


def test_ra_api_revoke_reaches_the_complete_crl_within_seconds(served, tmp_path):
    serial, _, cert_path = issue(served.ctx, tmp_path)
    key = create_api_key(served.ctx, "eod", ["revoke"], None)
    status, _, body = http(f"{served.base}/api/v1/certificates/{serial}/revoke",
                           json.dumps({"reason": "superseded"}).encode(),
                           {"Authorization": f"Bearer {key}",
                            "Content-Type": "application/json"})
    assert status == 200, body
    der = _wait_until_listed(served, serial)
    done = _openssl_without_deltas(served, tmp_path, cert_path, der)
    assert "certificate revoked" in done.stdout + done.stderr


def test_a_good_certificate_passes_openssl_with_the_complete_crl_alone(served, tmp_path):
    _, _, cert_path = issue(served.ctx, tmp_path)
    _, _, der = http(f"{served.base}/crl/issuing.crl")
    done = _openssl_without_deltas(served, tmp_path, cert_path, der)
    assert done.returncode == 0, done.stdout + done.stderr


# -- batching, with the jobs' clock in the test's hand -----------------------------------------

class Ticks:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _revoke_new(ctx) -> int:
    issued = Issuer(ctx).issue(IssuanceRequest("resident-authentication", make_csr(),
                                               dict(RESIDENT), "test"))
    Revoker(ctx).revoke(RevocationRequest(issued.serial, "keyCompromise", "operator:test"))
    return issued.certificate.serial_number


def _listed(ctx, serials) -> bool:
    der = (ctx.settings.crl_dir / "issuing.crl").read_bytes()
    crl = x509.load_der_x509_crl(der)
    return all(crl.get_revoked_certificate_by_serial_number(s) is not None for s in serials)


def test_a_burst_of_revocations_is_published_as_one_complete_crl(ctx):
    """On SQLite and PostgreSQL: the jobs read the changes through the store."""
    CrlPublisher(ctx).publish("issuing")
    ticks = Ticks()
    prompt = PromptCrlPublisher(ctx, quiet=2.0, longest=5.0, monotonic=ticks)
    serials = [_revoke_new(ctx)]
    assert prompt.poll() == []  # just seen: more may be coming
    ticks.now = 1.0
    serials.append(_revoke_new(ctx))
    assert prompt.poll() == []  # still arriving
    ticks.now = 3.5
    [published] = prompt.poll()  # quiet for 2.5 s
    assert not published.delta and published.ca == "issuing"
    assert _listed(ctx, serials)
    ticks.now = 10.0
    assert prompt.poll() == []  # nothing new


def test_a_steady_stream_of_revocations_still_publishes_within_the_longest_wait(ctx):
    CrlPublisher(ctx).publish("issuing")
    ticks = Ticks()
    prompt = PromptCrlPublisher(ctx, quiet=2.0, longest=5.0, monotonic=ticks)
    serials = []
    for second in range(5):
        ticks.now = float(second)
        serials.append(_revoke_new(ctx))
        assert prompt.poll() == []
    ticks.now = 5.0
    serials.append(_revoke_new(ctx))
    [published] = prompt.poll()
    assert not published.delta and _listed(ctx, serials)


# -- HTTP: HEAD, validators, conditional GET, cache headers ------------------------------------

@pytest.mark.parametrize("path", ["/crl/issuing.crl", "/crl/issuing-delta.crl", "/crl/root.crl",
                                  "/ca/issuing.crt", "/ca/root.crt", "/cps"])
def test_head_answers_the_get_headers_without_a_body(served, path):
    status, got, body = http(served.base + path)
    assert status == 200
    status, head, head_body = http(served.base + path, method="HEAD")
    assert status == 200 and head_body == b""
    assert int(head["Content-Length"]) == len(body) > 0
    for name in ("Content-Type", "ETag", "Last-Modified"):
        assert head[name] == got[name]


@pytest.mark.parametrize("path", ["/crl/issuing.crl", "/ca/issuing.crt", "/cps"])
def test_conditional_get_answers_304_only_for_the_current_version(served, path):
    _, headers, _ = http(served.base + path)
    etag, modified = headers["ETag"], headers["Last-Modified"]
    status, h304, body = http(served.base + path, headers={"If-None-Match": etag})
    assert (status, body) == (304, b"") and h304["ETag"] == etag
    assert http(served.base + path, headers={"If-None-Match": f'"x", W/{etag}'})[0] == 304
    assert http(served.base + path, headers={"If-Modified-Since": modified})[0] == 304
    assert http(served.base + path, headers={"If-None-Match": '"stale"'})[0] == 200
    # If-None-Match decides when both are sent (RFC 9110 §13.2.2).
    assert http(served.base + path, headers={"If-None-Match": '"stale"',
                                             "If-Modified-Since": modified})[0] == 200
    earlier = email.utils.format_datetime(
        email.utils.parsedate_to_datetime(modified) - dt.timedelta(seconds=1), usegmt=True)
    assert http(served.base + path, headers={"If-Modified-Since": earlier})[0] == 200
    assert http(served.base + path, headers={"If-Modified-Since": "not a date"})[0] == 200


def _max_age(headers) -> int:
    [age] = [int(d.split("=")[1]) for d in headers["Cache-Control"].split(", ")
             if d.startswith("max-age=")]
    return age


def test_crl_validators_follow_the_crl_and_its_cache_stops_at_next_update(served):
    status, headers, body = http(f"{served.base}/crl/issuing-delta.crl")
    crl = x509.load_der_x509_crl(body)
    assert email.utils.parsedate_to_datetime(headers["Last-Modified"]) == crl.last_update_utc
    left = (crl.next_update_utc - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert 0 < _max_age(headers) <= min(CRL_MAX_AGE, left)
    assert headers["Cache-Control"].startswith("public")


def test_a_new_crl_gets_a_new_etag(served):
    before = http(f"{served.base}/crl/issuing.crl")[1]["ETag"]
    assert run_cli(served.home, "crl", "--ca", "issuing").code == 0
    status, headers, _ = http(f"{served.base}/crl/issuing.crl", headers={"If-None-Match": before})
    assert status == 200 and headers["ETag"] != before


def test_certificate_cache_stops_at_not_after(served):
    _, headers, body = http(f"{served.base}/ca/issuing.crt")
    cert = x509.load_der_x509_certificate(body)
    assert email.utils.parsedate_to_datetime(headers["Last-Modified"]) == cert.not_valid_before_utc
    assert 0 < _max_age(headers) <= 86400


@pytest.mark.parametrize("path", ["/crl/issuing.crl", "/ca/root.crt"])
def test_other_methods_are_refused_with_405(served, path):
    status, headers, _ = http(served.base + path, b"x", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
