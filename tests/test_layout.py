"""The house's arrows (DESIGN.md): the fronts call the core, never each other's apps; the core
(``ca``, ``ra``, ``keys``) imports no front and no HTTP library; only the core touches the key
code. Every import counts, also one inside a function."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"ca": "ca", "ra": "ra", "keys": "keys", "ocsp": "ocsp", "tsa": "tsa",
           "signing": "signing", "enrollment-web": "enrollment_web", "edge": "edge",
           "regca": "regca", "transparency": "transparency"}
CORE = {"ca", "ra", "keys"}
FRONTS = {"ocsp", "tsa", "signing", "enrollment_web", "edge", "transparency"}
HTTP = {"flask", "werkzeug", "requests", "aiohttp", "wsgiref", "gunicorn", "granian",
        "http.client", "http.server", "urllib.request", "urllib.error"}
# The WSGI apps of the fronts: only the composition (regca) mounts them.
APPS = {"ocsp.app", "tsa.app", "signing.web", "enrollment_web", "transparency.app"}


def imports_of(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _package_imports() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for folder, package in FOLDERS.items():
        names: set[str] = set()
        for path in (REPO / folder).rglob("*.py"):
            if "migrations" not in path.parts:
                names |= {f"{m} ({path.relative_to(REPO)})" for m in imports_of(path.read_text())}
        out[package] = names
    return out


IMPORTS = _package_imports()


def _offending(package: str, forbidden) -> list[str]:
    return sorted(entry for entry in IMPORTS[package]
                  if any(entry == f or entry.startswith((f"{f}.", f"{f} "))
                         for f in forbidden))


@pytest.mark.parametrize("package", sorted(CORE))
def test_core_imports_no_front_and_no_http(package):
    assert _offending(package, FRONTS | {"regca"} | HTTP) == []


def test_the_ca_takes_no_orders_from_the_registration_authority():
    assert _offending("ca", {"ra"}) == []


def test_key_code_depends_on_nothing_but_configuration_and_errors():
    allowed = {"ca.config", "ca.errors", "ca.clock"}
    mine = _offending("keys", {"ca", "ra"})
    assert [m for m in mine if m.split(" ")[0] not in allowed
            and not any(m.startswith(f"{a}.") for a in allowed)] == []


@pytest.mark.parametrize("package", sorted(FRONTS))
def test_fronts_never_import_the_key_code(package):
    assert _offending(package, {"keys"}) == []


@pytest.mark.parametrize("package, others", [
    ("ocsp", {"tsa", "signing", "enrollment_web"}),
    ("tsa", {"ocsp", "signing", "enrollment_web"}),
])
def test_ocsp_and_tsa_never_import_the_web_or_each_other(package, others):
    assert _offending(package, others) == []


@pytest.mark.parametrize("package", ["ocsp", "tsa", "signing", "transparency"])
def test_protocol_and_signing_fronts_never_take_the_whole_context(package):
    # They get narrow services built by the composition (regca/roles.py, ca/services.py).
    assert _offending(package, {"ca.context"}) == []


@pytest.mark.parametrize("package", sorted(FRONTS))
def test_no_front_mounts_another_fronts_app(package):
    assert _offending(package, APPS - {a for a in APPS if a.split(".")[0] == package}) == []


def test_the_scan_sees_imports_inside_functions():
    planted = "def f():\n    from flask import Flask\n    import keys.hsm as h\n"
    assert {"flask", "flask.Flask", "keys.hsm"} <= imports_of(planted)


def test_the_readme_folder_table_names_every_top_level_folder():
    """A newcomer reads the house from README's table: each versioned top-level folder has its
    row, and no row names a folder that is gone."""
    if not shutil.which("git") or not (REPO / ".git").exists():
        pytest.skip("needs the git checkout to know which folders are versioned")
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    versioned = {f.split("/", 1)[0] for f in files if "/" in f and not f.startswith(".")}
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([\w.-]+)/` \|", readme, re.MULTILINE))
    assert rows == versioned, (f"missing rows: {sorted(versioned - rows)}, "
                               f"rows for no folder: {sorted(rows - versioned)}")
