"""Grep-level facts about time-stamping: one class in the product builds TSTInfo (tsa/token.py),
only the TSA core (tsa/authority.py) drives it, the only pyHanko TimeStamper of our own hands
requests to that core, and pyHanko's DummyTimeStamper (a test tool) is used nowhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_NOT_PRODUCT = {"tests", "bench", "build", "dist", "node_modules"}


def _product_sources() -> dict[str, str]:
    """Every Python file shipped or served from the repository, by its path from the root."""
    sources = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in _NOT_PRODUCT or any(p.startswith(".") for p in parts):
            continue
        sources["/".join(parts)] = path.read_text(encoding="utf-8")
    return sources


SOURCES = _product_sources()


def _where(pattern: str) -> set[str]:
    return {name for name, text in SOURCES.items() if re.search(pattern, text)}


def test_the_scan_sees_the_product():
    assert {"tsa/token.py", "tsa/authority.py", "signing/timestamping.py"} <= set(SOURCES)


def test_no_dummy_timestamper_anywhere_in_the_product():
    assert _where(r"DummyTimeStamper|timestamps\.dummy_client|dummy_client") == set()


def test_no_foreign_tsa_policy_oid():
    # pyHanko's DummyTimeStamper stamps under GlobalSign's policy 1.3.6.1.4.1.4146.2.2.
    assert _where(r"1\.3\.6\.1\.4\.1\.4146") == set()


def test_one_module_builds_tstinfo():
    # A TSTInfo is made by encoding its content type (id-ct-TSTInfo) or asn1crypto's TSTInfo.
    builders = _where(r"tsp\.TSTInfo\(|TSTInfo\(\{|ContentType\(\s*[\"']tst_info[\"']"
                      r"|1\.2\.840\.113549\.1\.9\.16\.1\.4")
    assert builders == {"tsa/token.py"}


def _classes(name: str) -> list[ast.ClassDef]:
    return [node for node in ast.walk(ast.parse(SOURCES[name]))
            if isinstance(node, ast.ClassDef)]


def test_one_class_signs_tokens_and_only_the_tsa_core_uses_it():
    signers = [c.name for c in _classes("tsa/token.py")
               if any(isinstance(f, ast.FunctionDef) and f.name == "sign" for f in c.body)]
    assert signers == ["TokenSigner"]
    assert _where(r"\bTokenSigner\(") == {"tsa/authority.py"}


def test_every_timestamper_of_ours_is_the_adapter_over_the_tsa_core():
    subclasses = {(name, c.name) for name in SOURCES for c in _classes(name)
                  if any(ast.unparse(b).endswith("TimeStamper") for b in c.bases)}
    assert subclasses == {("signing/timestamping.py", "AuthorityTimeStamper"),
                          ("signing/stamps.py", "RecordingTimeStamper")}
    # the second makes no token: it passes each request on to the one it wraps and keeps the
    # serial that came back (for the seal's audit event)
    recording = SOURCES["signing/stamps.py"]
    assert "await self._inner.async_timestamp(" in recording
    assert "tsa." not in recording and "TimeStampAuthority" not in recording
    assert "from tsa.authority import TimeStampAuthority" in SOURCES["signing/timestamping.py"]
