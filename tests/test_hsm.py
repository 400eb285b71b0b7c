"""The HSM behind the key abstraction: keys stay inside, and failures are clear messages."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import RESIDENT, make_csr, make_home, run_cli
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from sqlalchemy import func, select

from ca.config import HsmConfig
from ca.errors import HsmUnavailable
from ca.store.models import Certificate
from keys.hsm import Hsm

pytestmark = pytest.mark.hsm
MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def _pkcs11_tool(ctx, *args):
    token = ctx.settings.hsm.tokens["online"]
    env = dict(os.environ, SOFTHSM2_CONF=str(ctx.settings.hsm.softhsm_conf))
    return subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label", token.label,
                           "--login", "--pin", token.pin(), *args],
                          env=env, capture_output=True, text=True)


def test_pkcs11_tool_shows_ca_keys_sensitive_and_never_extractable(sqlite_ctx):
    done = _pkcs11_tool(sqlite_ctx, "--list-objects", "--type", "privkey")
    assert done.returncode == 0, done.stderr
    blocks = done.stdout.split("Private Key Object")[1:]
    labels = {"regca-issuing-ca", "regca-ocsp-responder", "regca-tsa", "regca-seal"}
    seen = set()
    for block in blocks:
        label = block.split("label:")[1].split("\n")[0].strip()
        seen.add(label)
        assert "sensitive" in block and "never extractable" in block, block
        assert "extractable" not in block.replace("never extractable", "")
    assert labels <= seen


def test_private_key_cannot_be_exported(sqlite_ctx):
    key = sqlite_ctx.key_pair("issuing").key
    with pytest.raises(TypeError, match="stays in the HSM"):
        key.private_bytes(None, None, None)
    assert sqlite_ctx.hsm.key_attributes("issuing") == {"sensitive": True, "extractable": False}


def test_hsm_ecdsa_signature_verifies_with_public_key(sqlite_ctx):
    key = sqlite_ctx.key_pair("ocsp").key
    sig = key.sign(b"dokument", ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(sig, b"dokument", ec.ECDSA(hashes.SHA256()))


def test_rsa_key_in_hsm_signs_pkcs1_and_pss(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # An operator may choose RSA keys by writing regca.toml before init.
    ctx = make_home(home, demo=False)
    cfg = ctx.settings.hsm
    rsa_cfg = HsmConfig(cfg.module, cfg.softhsm_conf, False, cfg.tokens, {
        "extra": type(cfg.keys["seal"])("extra", "online", "test-rsa", b"\x99", "rsa-2048")})
    hsm = Hsm(rsa_cfg)
    hsm.generate_key("extra")
    key = hsm.private_key("extra", None)  # a bare key: no certificate names it
    for pad in (padding.PKCS1v15(),
                padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)):
        sig = key.sign(b"e-form", pad, hashes.SHA256())
        key.public_key().verify(sig, b"e-form", pad, hashes.SHA256())


def test_wrong_pin_is_a_clear_one_line_error_and_changes_nothing(sqlite_ctx, tmp_path):
    csr, subj = tmp_path / "r.csr", tmp_path / "s.json"
    csr.write_bytes(make_csr())
    subj.write_text(json.dumps(RESIDENT))
    with sqlite_ctx.db.reading() as s:
        before = s.scalar(select(func.count()).select_from(Certificate))
    r = run_cli(sqlite_ctx.settings.home, "issue", "--profile", "resident-signing",
                "--csr", str(csr), "--subject", str(subj), env={"REGCA_PIN_ONLINE": "0000wrong"})
    assert r.code == 1
    assert r.err == "regca: error: wrong PIN for token 'RegCA Online'\n"
    with sqlite_ctx.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Certificate)) == before


def test_missing_module_is_a_clear_error(sqlite_ctx):
    cfg = sqlite_ctx.settings.hsm
    broken = HsmConfig("/nonexistent/libpkcs11.so", cfg.softhsm_conf, False, cfg.tokens,
                       cfg.keys)
    with pytest.raises(HsmUnavailable, match="PKCS#11 module /nonexistent/libpkcs11.so"):
        Hsm(broken).public_key("issuing")
    assert Hsm(broken).ping() is False


def test_missing_token_is_a_clear_error(sqlite_ctx):
    cfg = sqlite_ctx.settings.hsm
    tokens = {n: type(t)(n, "No Such Token", t.pin_env, t.pin_file) for n, t in cfg.tokens.items()}
    with pytest.raises(HsmUnavailable, match="token 'No Such Token' not found"):
        Hsm(HsmConfig(cfg.module, cfg.softhsm_conf, False, tokens, cfg.keys)).public_key("ocsp")
