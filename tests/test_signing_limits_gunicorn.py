"""The signing API's size limit under `regca serve` (gunicorn), for every transfer encoding:
a chunked body over the limit is 413 and nothing is sealed over a body cut at the limit; the
access log names the API key of each request."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
from signing_support import jst_seals, sample_pdf
from tsa_support import regca_serve

from ca.store import audit as audit_store
from ra.apikeys import create_api_key
from signing.config import DEFAULT_MAX_BODY

pytestmark = pytest.mark.hsm

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(home):
    jst_seals(home, "0862011")
    key = create_api_key(home, "EOD chunked", ["sign"], "0862011")
    with regca_serve(home.settings.home, workers=1) as (base, _proc):
        yield base, key, home


def _pieces(data: bytes, size: int = 256 * 1024):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def send(base: str, key: str, body: bytes, chunked: bool) -> tuple[int, bytes]:
    """POST a PDF to /api/v1/sign/pdf?level=B-B, chunked (no Content-Length) or not."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/pdf"}
    try:
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
            conn.request("POST", "/api/v1/sign/pdf?level=B-B", body=_pieces(body),
                         headers=headers, encode_chunked=True)
        else:
            conn.request("POST", "/api/v1/sign/pdf?level=B-B", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def seal_events(ctx, key: str) -> list[tuple[str, dict]]:
    key_id = key.split("_")[1]
    with ctx.db.reading() as s:
        rows = [r for r in audit_store.events(s, action="sign.pdf", limit=100000)
                if r.actor == f"apikey:{key_id}"]
    return [(r.outcome, json.loads(r.details)) for r in reversed(rows)]


def big_pdf(size: int) -> bytes:
    """A real PDF padded past ``size`` bytes: its first 16 MiB alone are still a PDF that
    pyHanko would seal (the header and the page come first)."""
    pdf = sample_pdf()
    return pdf + b"%" + b"0" * (size - len(pdf) - 2) + b"\n"


def test_a_chunked_body_under_the_limit_is_sealed(server):
    base, key, _ = server
    status, body = send(base, key, sample_pdf(), chunked=True)
    assert status == 200, body[:300]
    assert body.startswith(b"%PDF-")


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_17_mib_body_is_413_and_nothing_is_sealed(server, chunked):
    base, key, ctx = server
    before = seal_events(ctx, key)
    status, body = send(base, key, big_pdf(17 * MIB), chunked=chunked)
    assert status == 413, body[:300]
    error = json.loads(body)["error"]
    assert error["code"] == "payload_too_large" and str(DEFAULT_MAX_BODY) in error["message"]
    after = seal_events(ctx, key)[len(before):]
    assert [(o, d["error"]["code"]) for o, d in after] == [("refused", "payload_too_large")]
    assert after[0][1]["seal_serial"] is None


def test_the_access_log_names_the_key_of_each_request(server):
    base, key, ctx = server
    status, _ = send(base, key, sample_pdf(), chunked=False)
    assert status == 200
    log = (ctx.settings.log_dir / "access.log").read_text()
    line = [x for x in log.splitlines() if "/api/v1/sign/pdf" in x][-1]
    assert line.endswith(f"key={key.split('_')[1]}")
    assert key.split("_")[2] not in log  # never the secret
