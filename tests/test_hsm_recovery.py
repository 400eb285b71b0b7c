"""A process whose PKCS#11 session outlived its token store signs again on its first call once
the store is back, whatever it had cached (DESIGN.md,
"Keys": a SoftHSM2 session stays broken until the module is initialised again)."""

from __future__ import annotations

import contextlib

import pytest
from conftest import make_home
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Mechanism

from ca.errors import HsmUnavailable
from keys.hsm import Hsm

pytestmark = pytest.mark.hsm
_ECDSA = Mechanism.ECDSA


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    ctx = make_home(tmp_path_factory.mktemp("recovery") / "home", demo=False)
    yield ctx
    ctx.db.dispose()


@contextlib.contextmanager
def store_away(ctx):
    tokens = ctx.settings.hsm.softhsm_conf.parent / "tokens"
    away = tokens.with_name("tokens.away")
    tokens.rename(away)
    try:
        yield
    finally:
        away.rename(tokens)


def signs(hsm: Hsm, role: str) -> bool:
    key = hsm.private_key(role, None) if role != "hmac" else None
    if key is None:
        return len(hsm.hmac_sha256(role, b"x")) == 32
    sig = key.sign(b"e-form", ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(sig, b"e-form", ec.ECDSA(hashes.SHA256()))
    return True


def fresh_process_state(ctx) -> Hsm:
    """The module initialised anew, as in a worker just forked: no session, no handle."""
    hsm = Hsm(ctx.settings.hsm)
    hsm._module.pid = -1
    return hsm


def test_session_opened_before_the_outage_finds_its_key_after_it(ctx):
    hsm = fresh_process_state(ctx)
    public = hsm.public_key("ocsp")  # a session open, no key handle cached yet
    with store_away(ctx):
        with pytest.raises(HsmUnavailable):
            hsm.sign_raw("ocsp", b"\x00" * 32, mechanism=_ECDSA)
    raw = hsm.sign_raw("ocsp", b"\x00" * 32, mechanism=_ECDSA)
    assert len(raw) == 64 and public.curve.name == "secp256r1"


def test_cached_key_handle_signs_after_the_outage(ctx):
    hsm = fresh_process_state(ctx)
    assert signs(hsm, "seal")
    with store_away(ctx):
        with pytest.raises(HsmUnavailable):
            signs(hsm, "seal")
    assert signs(hsm, "seal")


def test_secret_key_computes_after_the_outage(ctx):
    hsm = fresh_process_state(ctx)
    hsm.public_key("issuing")
    with store_away(ctx):
        with pytest.raises(HsmUnavailable):
            signs(hsm, "hmac")
    assert signs(hsm, "hmac")


def test_health_probe_sees_the_store_return_on_its_first_call(ctx):
    hsm = fresh_process_state(ctx)
    assert hsm.ping()
    with store_away(ctx):
        assert not hsm.ping()
    assert hsm.ping()


def test_key_presence_is_not_judged_by_a_stale_session(ctx):
    """A rollover asks whether the new key is already there (ca/rollover.py): a session that
    lived through the outage sees an empty token, which must not read as "no key"."""
    hsm = fresh_process_state(ctx)
    hsm.public_key("tsa")
    with store_away(ctx):
        with pytest.raises(HsmUnavailable):
            hsm.has_key("tsa")
    assert hsm.has_key("tsa")
    cfg = ctx.settings.hsm
    ghost = type(cfg.keys["tsa"])("tsa", "online", "no-such-key", b"\x78", "ec-p256")
    assert not Hsm(type(cfg)(cfg.module, cfg.softhsm_conf, False, cfg.tokens,
                             {"tsa": ghost})).has_key("tsa")


def test_a_key_truly_missing_is_still_a_clear_error(ctx):
    cfg = ctx.settings.hsm
    ghost = type(cfg.keys["seal"])("ghost", "online", "no-such-key", b"\x77", "ec-p256")
    hsm = Hsm(type(cfg)(cfg.module, cfg.softhsm_conf, False, cfg.tokens, {"ghost": ghost}))
    with pytest.raises(HsmUnavailable, match="no key 'no-such-key' on token"):
        hsm.sign_raw("ghost", b"\x00" * 32, mechanism=_ECDSA)

