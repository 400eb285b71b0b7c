"""With the HSM gone the responder keeps answering from its pre-signed cache, asks nonce
clients to try later, and /healthz says the HSM is down; it signs again once it is back."""

from __future__ import annotations

import json

import pytest
from revocation_support import http, issue, openssl, serve_home, stop

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    s = serve_home(tmp_path_factory.mktemp("hsm-down"), None)
    yield s
    stop(s.process)


def ask(served, cert_path, *extra):
    c = served.certs
    done = openssl("ocsp", "-issuer", str(c / "issuing.pem"), "-cert", str(cert_path),
                   "-url", served.base + "/ocsp", "-CAfile", str(c / "chain.pem"), *extra,
                   check=False)
    return done.stdout + done.stderr


def test_cached_answers_survive_hsm_outage(served, tmp_path):
    _, _, ee = issue(served.ctx, tmp_path)
    assert f"{ee}: good" in ask(served, ee)  # the workers have signed with the HSM
    tokens = served.home / "hsm" / "tokens"
    away = tokens.with_name("tokens.away")
    tokens.rename(away)
    try:
        assert f"{ee}: good" in ask(served, ee, "-no_nonce")
        # A nonce needs a signature now; several requests, so that both workers meet the outage.
        assert all("trylater" in ask(served, ee) for _ in range(6))
        status, _, body = http(served.base + "/healthz")
        assert status == 503 and json.loads(body)["hsm"] == "down"
    finally:
        away.rename(tokens)
    # Every worker signs again on its first request: no request after the store's return is lost.
    assert all(f"{ee}: good" in ask(served, ee) for _ in range(6))
