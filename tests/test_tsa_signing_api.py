"""The signing API's time-stamps come from the one TSA, in-process (``[signing] timestamper =
"in-process"``) and over HTTP alike: the same policy, key and serial counter, each token on
record before the signature leaves, and ``openssl ts -verify`` trusting only the root judges
them."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import subprocess

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from ca.clock import FixedClock
from ca.context import CaContext
from ca.policy import load_oids
from ca.store import timestamps as store
from ra.apikeys import create_api_key
from regca.roles import in_process_timestamper, tsa_app
from regca.roles import signing_app as create_app
from signing.config import SigningConfig
from signing.timestamping import IN_PROCESS_REQUESTER, AuthorityTimeStamper
from tsa.authority import TimeStampAuthority

pytestmark = pytest.mark.hsm

CONTENT = b"Decyzja nr 7/2026\n" * 100


@pytest.fixture(scope="module")
def key(served):
    return create_api_key(served, "eod", ["sign"], None)


@pytest.fixture(scope="module")
def root_pem(served, tmp_path_factory):
    path = tmp_path_factory.mktemp("root") / "root.pem"
    path.write_bytes(served.certificate_of("root-ca").public_bytes(Encoding.PEM))
    return path


def _seal_cms(served, key: str, timestamper: str) -> tuple[bytes, cms.ContentInfo]:
    """A CAdES B-T over CONTENT from the signing API set up with ``timestamper``; returns the
    signature value and its time-stamp token."""
    app = create_app(served, SigningConfig(timestamper=timestamper), fetch_revocation=False)
    resp = app.test_client().post("/api/v1/sign/cms", data=CONTENT, query_string={"level": "B-T"},
                                  headers={"Authorization": f"Bearer {key}",
                                           "Content-Type": "application/octet-stream"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    signer_info = cms.ContentInfo.load(resp.get_data())["content"]["signer_infos"][0]
    (attribute,) = [a for a in signer_info["unsigned_attrs"]
                    if a["type"].native == "signature_time_stamp_token"]
    return signer_info["signature"].native, attribute["values"][0]


def _tst(token: cms.ContentInfo):
    return token["content"]["encap_content_info"]["content"].parsed


def _record(ctx: CaContext, serial: int):
    with ctx.db.reading() as s:
        rows = store.tokens_between(s, serial, serial)
    return rows[0] if rows else None


def test_in_process_and_http_stamps_come_from_the_one_tsa_and_are_on_record(served, key):
    policy = load_oids(served.settings.policies_dir)["tsa_policy"]
    stamps = {way: _seal_cms(served, key, way) for way in ("in-process", "http")}
    requesters = {"in-process": IN_PROCESS_REQUESTER, "http": "ip:127.0.0.1"}
    for way, (signature, token) in stamps.items():
        tst = _tst(token)
        assert tst["policy"].dotted == policy
        row = _record(served, tst["serial_number"].native)
        assert row is not None, f"{way}: token not on record"
        assert (row.policy, row.requester) == (policy, requesters[way])
        assert row.message_imprint == hashlib.sha256(signature).hexdigest()
        assert row.gen_time == tst["gen_time"].native
    tokens = [token for _, token in stamps.values()]
    # one key and one counter: the same signer identifier, never the same serial
    sids = {t["content"]["signer_infos"][0]["sid"].dump() for t in tokens}
    assert len(sids) == 1
    assert len({_tst(t)["serial_number"].native for t in tokens}) == 2


@pytest.mark.parametrize("way", ["in-process", "http"])
def test_openssl_verifies_the_signing_api_stamp_trusting_only_the_root(served, key, root_pem,
                                                                       tmp_path, way):
    signature, token = _seal_cms(served, key, way)
    (tmp_path / "token.der").write_bytes(token.dump())
    done = subprocess.run(
        ["openssl", "ts", "-verify", "-token_in", "-in", "token.der",
         "-digest", hashlib.sha256(signature).hexdigest(), "-CAfile", str(root_pem)],
        cwd=tmp_path, capture_output=True, text=True)
    assert "Verification: OK" in done.stdout, done.stdout + done.stderr


def test_in_process_timestamper_is_the_tsa_core(served):
    stamper = in_process_timestamper(served)
    assert isinstance(stamper, AuthorityTimeStamper)
    assert isinstance(stamper.authority, TimeStampAuthority)
    assert isinstance(tsa_app(served).authority, TimeStampAuthority)


def _count(ctx: CaContext) -> int:
    with ctx.db.reading() as s:
        return store.count_tokens(s)


def test_in_process_refusal_is_the_tsa_policy_and_leaves_no_record(served):
    before = _count(served)
    with pytest.raises(TimestampRequestError):  # SHA-1 imprints are refused by the TSA policy
        asyncio.run(in_process_timestamper(served).async_timestamp(b"\x01" * 20, "sha1"))
    assert _count(served) == before


def test_in_process_gives_no_token_outside_the_tsa_certificate(served):
    expiry = served.certificate_of("tsa").not_valid_after_utc
    later = CaContext(served.settings, FixedClock(expiry + dt.timedelta(seconds=1)))
    before = _count(served)
    with pytest.raises(TimestampRequestError, match="not valid"):
        asyncio.run(in_process_timestamper(later).async_timestamp(b"\x01" * 32, "sha256"))
    assert _count(served) == before
    later.db.dispose()
