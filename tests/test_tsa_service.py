"""The TSA service in this process over real HTTP: policy settings, the serial allocator, the
record of tokens and the HSM going away. The protocol judge is still ``openssl ts``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import threading

import pytest
from asn1crypto import core, tsp
from conftest import PINNED, make_home
from tsa_support import make_query, post, reply_text, wsgi_thread

from ca.clock import FixedClock
from ca.context import CaContext
from ca.der import sequence
from ca.errors import ConfigurationError
from ca.policy import load_tsa_policy
from ca.store import timestamps as store
from ca.tsaserials import SerialAllocator
from ra.apikeys import create_api_key
from regca.roles import tsa_app
from tsa.reply import TimeStampResp

pytestmark = pytest.mark.hsm


def _status(body: bytes) -> tuple[str, set]:
    status = TimeStampResp.load(body)["status"]
    return status["status"].native, status["fail_info"].native or set()


def _tst(body: bytes) -> tsp.TSTInfo:
    token = TimeStampResp.load(body)["time_stamp_token"]
    return token["content"]["encap_content_info"]["content"].parsed


def _with_tsa_settings(ctx: CaContext, tmp_path, table: str, clock=None) -> CaContext:
    """The same home with a ``[tsa]`` table added to (a copy of) its regca.toml."""
    home = tmp_path / "conf"
    home.mkdir()
    (home / "regca.toml").write_text(ctx.settings.config_file.read_text() + "\n[tsa]\n" + table)
    settings = dataclasses.replace(ctx.settings, home=home)
    return CaContext(settings, clock or ctx.clock)


# -- policy settings ------------------------------------------------------------------------------

def test_sha1_is_refused_by_default(sqlite_ctx, tmp_path):
    with wsgi_thread(tsa_app(sqlite_ctx)) as base:
        _, _, body = post(base, make_query(tmp_path, "q", "-sha1").read_bytes())
    assert _status(body) == ("rejection", {"bad_alg"})


def test_sha1_is_granted_when_the_policy_allows_it(sqlite_ctx, tmp_path):
    ctx = _with_tsa_settings(sqlite_ctx, tmp_path, "allow_sha1 = true\n")
    with wsgi_thread(tsa_app(ctx)) as base:
        _, _, body = post(base, make_query(tmp_path, "q", "-sha1").read_bytes())
    assert _status(body) == ("granted", set())


def test_accuracy_is_configurable(sqlite_ctx, tmp_path):
    ctx = _with_tsa_settings(sqlite_ctx, tmp_path, "accuracy_seconds = 0.25\n")
    with wsgi_thread(tsa_app(ctx)) as base:
        _, _, body = post(base, make_query(tmp_path, "q").read_bytes())
    (tmp_path / "r.tsr").write_bytes(body)
    assert "Accuracy: unspecified seconds, 0xFA millis" in reply_text(tmp_path, tmp_path / "r.tsr")


def test_bad_tsa_setting_fails_at_start_with_the_field(sqlite_ctx, tmp_path):
    ctx = _with_tsa_settings(sqlite_ctx, tmp_path, "allow_sha1 = \"yes\"\n")
    with pytest.raises(ConfigurationError, match="tsa.allow_sha1"):
        load_tsa_policy(ctx.settings)


def test_gen_time_keeps_sub_second_precision(sqlite_ctx, tmp_path):
    at = PINNED + dt.timedelta(seconds=7, microseconds=123450)
    ctx = CaContext(sqlite_ctx.settings, FixedClock(at))
    with wsgi_thread(tsa_app(ctx)) as base:
        _, _, body = post(base, make_query(tmp_path, "q").read_bytes())
    assert _tst(body)["gen_time"].native == at
    (tmp_path / "r.tsr").write_bytes(body)
    assert f"{at:%H:%M:%S}.12345 " in reply_text(tmp_path, tmp_path / "r.tsr")


# -- transport and request mistakes ---------------------------------------------------------------

def test_wrong_media_type_and_method_get_a_reply_not_a_page(sqlite_ctx, tmp_path):
    query = make_query(tmp_path, "q").read_bytes()
    with wsgi_thread(tsa_app(sqlite_ctx)) as base:
        status, ctype, body = post(base, query, content_type="text/plain")
        assert (status, ctype) == (415, "application/timestamp-reply")
        assert _status(body) == ("rejection", {"bad_request"})
        import urllib.error
        import urllib.request
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base)
        assert err.value.code == 405
        assert _status(err.value.read()) == ("rejection", {"bad_request"})


def test_request_extensions_are_refused(sqlite_ctx):
    req = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                            "hashed_message": b"\x01" * 32},
        "extensions": [{"extn_id": "1.2.3.4", "extn_value": b"\x05\x00"}],
    })
    with wsgi_thread(tsa_app(sqlite_ctx)) as base:
        _, _, body = post(base, req.dump())
    assert _status(body) == ("rejection", {"unaccepted_extensions"})


def test_imprint_of_the_wrong_length_is_bad_data_format(sqlite_ctx):
    req = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha384"}, "hashed_message": b"\x01" * 32}})
    with wsgi_thread(tsa_app(sqlite_ctx)) as base:
        _, _, body = post(base, req.dump())
    assert _status(body) == ("rejection", {"bad_data_format"})



def _raw_query(algorithm_parameters: bytes = b"", after_imprint: bytes = b"",
               trailing: bytes = b"") -> bytes:
    """A SHA-256 TimeStampReq framed field by field, so that one field can be what no encoder
    of ours would write."""
    algorithm = sequence(core.ObjectIdentifier("2.16.840.1.101.3.4.2.1").dump(),
                         algorithm_parameters)
    imprint = sequence(algorithm, core.OctetString(b"\x01" * 32).dump())
    return sequence(core.Integer(1).dump(), imprint, after_imprint) + trailing


def test_hash_parameters_other_than_null_are_bad_alg(sqlite_ctx):
    with wsgi_thread(tsa_app(sqlite_ctx)) as base:
        _, _, with_null = post(base, _raw_query(core.Null().dump()))
        _, _, with_string = post(base, _raw_query(core.OctetString(b"x").dump()))
    assert _status(with_null) == ("granted", set())
    assert _status(with_string) == ("rejection", {"bad_alg"})


def test_bytes_after_the_request_are_bad_data_format(sqlite_ctx):
    with wsgi_thread(tsa_app(sqlite_ctx)) as base:
        _, _, body = post(base, _raw_query(trailing=b"\x00\x00"))
    assert _status(body) == ("rejection", {"bad_data_format"})


def test_cert_req_false_sent_explicitly_is_read_as_false(sqlite_ctx):
    """DER omits a DEFAULT value, but some clients send certReq FALSE; it is not refused."""
    with wsgi_thread(tsa_app(sqlite_ctx)) as base:
        _, _, explicit_false = post(base, _raw_query(after_imprint=core.Boolean(False).dump()))
        _, _, explicit_true = post(base, _raw_query(after_imprint=core.Boolean(True).dump()))
    token = TimeStampResp.load(explicit_false)["time_stamp_token"]["content"]
    assert _status(explicit_false) == ("granted", set())
    assert not token["certificates"]
    assert TimeStampResp.load(explicit_true)["time_stamp_token"]["content"]["certificates"]

# -- serials and the record (both database back ends) --------------------------------------------

def test_serials_are_unique_across_allocators_and_grow_after_restart(ctx):
    workers = [SerialAllocator(ctx.db, 7), SerialAllocator(ctx.db, 7)]
    seen: list[int] = []
    lock = threading.Lock()

    def draw(allocator):
        for _ in range(50):
            serial = allocator.next()
            with lock:
                seen.append(serial)

    threads = [threading.Thread(target=draw, args=(w,)) for w in workers for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == len(set(seen)) == 300
    restarted = SerialAllocator(ctx.db, 7)
    assert restarted.next() > max(seen)


def test_record_holds_serial_time_imprint_and_requester(ctx, tmp_path):
    key = create_api_key(ctx, "e-urząd", ["sign"], None)
    app = tsa_app(ctx)
    query = make_query(tmp_path, "q", "-sha384", data=b"akt notarialny")
    with wsgi_thread(app) as base:
        _, _, anonymous = post(base, query.read_bytes())
        _, _, keyed = post(base, query.read_bytes(), headers={"Authorization": f"Bearer {key}"})
    tokens = [_tst(anonymous), _tst(keyed)]
    with ctx.db.reading() as s:
        rows = [store.tokens_between(s, t["serial_number"].native, t["serial_number"].native)[0]
                for t in tokens]
    imprint = tokens[0]["message_imprint"]["hashed_message"].native.hex()
    assert [r.requester for r in rows] == ["ip:127.0.0.1", f"apikey:{key.split('_')[1]}"]
    assert {r.message_imprint for r in rows} == {imprint}
    assert {r.hash_algorithm for r in rows} == {"sha384"}
    assert [r.gen_time for r in rows] == [t["gen_time"].native for t in tokens]
    assert rows[0].nonce == format(tokens[0]["nonce"].native, "x")


def test_invalid_api_key_is_refused_and_not_recorded(ctx, tmp_path):
    with ctx.db.reading() as s:
        before = store.count_tokens(s)
    with wsgi_thread(tsa_app(ctx)) as base:
        status, ctype, body = post(base, make_query(tmp_path, "q").read_bytes(),
                                   headers={"Authorization": "Bearer rca_nope"})
    assert (status, ctype) == (401, "application/timestamp-reply")
    assert _status(body) == ("rejection", {"bad_request"})
    with ctx.db.reading() as s:
        assert store.count_tokens(s) == before


# -- the HSM going away ----------------------------------------------------------------------------

def test_hsm_unavailable_is_system_failure_503_and_service_recovers(tmp_path):
    ctx = make_home(tmp_path / "home")
    tokens = ctx.settings.hsm.softhsm_conf.parent / "tokens"
    query = make_query(tmp_path, "q").read_bytes()
    with wsgi_thread(tsa_app(ctx)) as base:
        assert _status(post(base, query)[2]) == ("granted", set())
        shutil.move(tokens, tmp_path / "tokens-away")
        try:
            status, ctype, body = post(base, query)
        finally:
            shutil.move(tmp_path / "tokens-away", tokens)
        assert (status, ctype) == (503, "application/timestamp-reply")
        assert _status(body) == ("rejection", {"system_failure"})
        assert _status(post(base, query)[2]) == ("granted", set())
    ctx.db.dispose()


def test_no_token_after_the_tsa_certificate_expires(sqlite_ctx, tmp_path):
    expiry = sqlite_ctx.certificate_of("tsa").not_valid_after_utc
    ctx = CaContext(sqlite_ctx.settings, FixedClock(expiry + dt.timedelta(seconds=1)))
    with wsgi_thread(tsa_app(ctx)) as base:
        status, _, body = post(base, make_query(tmp_path, "q").read_bytes())
    assert status == 503
    assert _status(body) == ("rejection", {"system_failure"})


def test_a_token_that_cannot_be_recorded_is_not_handed_out(tmp_path):
    from sqlalchemy import text

    ctx = make_home(tmp_path / "home")
    query = make_query(tmp_path, "q").read_bytes()
    with wsgi_thread(tsa_app(ctx)) as base:
        assert _status(post(base, query)[2]) == ("granted", set())
        with ctx.db._engine.begin() as conn:  # the record refuses every row meanwhile
            conn.execute(text("ALTER TABLE tsa_tokens RENAME TO tsa_tokens_away"))
        try:
            status, ctype, body = post(base, query)
        finally:
            with ctx.db._engine.begin() as conn:
                conn.execute(text("ALTER TABLE tsa_tokens_away RENAME TO tsa_tokens"))
        assert (status, ctype) == (503, "application/timestamp-reply")
        assert _status(body) == ("rejection", {"system_failure"})
        assert _status(post(base, query)[2]) == ("granted", set())
    ctx.db.dispose()
