"""The core's errors are kinds with a code and nothing about the wire (STYLE.md, "Errors"): no
module under ca/, ra/ or keys/ imports a web framework or HTTP server, gives an error an HTTP
status, renders a problem, or spells an HTTP status line; each front maps the kinds itself."""

from __future__ import annotations

import ast
import http
import inspect
import re
from pathlib import Path

import pytest

import ca
import ca.errors
import signing.errors

CORE = Path(ca.__file__).resolve().parent
# The core: the CA, the registration authority and the key code (tests/test_layout.py).
_MODULES = sorted(p for package in ("ca", "ra", "keys")
                  for p in (CORE.parent / package).rglob("*.py"))

# Frameworks, servers and client libraries that belong to the fronts.
_HTTP_PACKAGES = {"flask", "flask_wtf", "werkzeug", "requests", "httpx", "urllib3", "wsgiref",
                  "gunicorn", "granian", "edge", "signing", "enrollment_web", "ocsp", "tsa",
                  "regca"}
_HTTP_MODULES = {"http.server", "http.client", "http"}
_STATUS_NAMES = {"status", "http_status", "status_code"}
# Reason phrases of more than one word: "Unauthorized" or "Conflict" alone name error kinds too.
_PHRASES = {s.phrase for s in http.HTTPStatus if s >= 400 and " " in s.phrase}
_STATUS_LINE = re.compile(r"^[1-5]\d\d [A-Z][a-z]")


def _http_number(stmt: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) and type(n.value) is int and 100 <= n.value <= 599
               for n in ast.walk(stmt))


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(CORE.parent)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in _HTTP_PACKAGES or name in _HTTP_MODULES:
                found.append(f"{where} imports {name}")
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                # A certificate's status column is fine; a status that is an HTTP number is not.
                if not isinstance(stmt, ast.Assign | ast.AnnAssign) or not _http_number(stmt):
                    continue
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                        if isinstance(t, ast.Name) and t.id in _STATUS_NAMES:
                            found.append(f"{where} class {node.name} has a {t.id!r} attribute")
        if isinstance(node, ast.FunctionDef) and node.name in ("problem", "http_status"):
            found.append(f"{where} defines {node.name}()")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in _PHRASES or _STATUS_LINE.match(node.value):
                found.append(f"{where} spells the HTTP status {node.value!r}")
    return found


def test_the_scan_sees_the_core():
    assert CORE / "errors.py" in _MODULES and len(_MODULES) > 20


@pytest.mark.parametrize("source, finding", [
    ("from flask import Flask", "imports flask"),
    ("import werkzeug.exceptions", "imports werkzeug.exceptions"),
    ("class Gone(Exception):\n    code, status = 'gone', 410", "has a 'status' attribute"),
    ("class Gone(Exception):\n    http_status: int = 410", "has a 'http_status' attribute"),
    ("REASONS = {404: 'Not Found'}", "spells the HTTP status 'Not Found'"),
    ("LINE = '503 Service Unavailable'", "spells the HTTP status"),
])
def test_the_scan_would_catch_http_in_the_core(tmp_path, monkeypatch, source, finding):
    # The scan itself is checked on a planted module, so that a silent scan cannot pass.
    monkeypatch.setattr("test_core_knows_no_http.CORE", tmp_path)
    planted = tmp_path / "pkg" / "planted.py"
    planted.parent.mkdir()
    planted.write_text(source + "\n")
    assert any(finding in f for f in _findings(planted))


def test_no_core_module_knows_http():
    findings = [f for path in _MODULES for f in _findings(path)]
    assert findings == []


def _kinds() -> list[type]:
    found = []
    for module in (ca.errors, signing.errors):
        found += [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, ca.errors.RegCAError) and obj.__module__ == module.__name__]
    return found


def test_every_kind_has_its_own_stable_code_and_no_status():
    kinds = _kinds()
    assert len(kinds) >= 15
    for kind in kinds:
        assert "code" in vars(kind), f"{kind.__name__} inherits its code"
        assert re.fullmatch(r"[a-z][a-z_]*", kind.code), kind.code
        for attr in ("status", "http_status", "problem"):
            assert not hasattr(kind, attr), f"{kind.__name__}.{attr}"
    codes = [k.code for k in kinds]
    assert len(codes) == len(set(codes)), "two kinds share a code"
