"""Each parser's fuzz harness (tests/fuzz/) runs a few seconds without a crash: an input that
makes an entry point raise anything but the refusals it promises fails this test, and its bytes
are left in the test's directory to become a regression test. `make fuzz` runs them longer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

RUN = Path(__file__).resolve().parent / "fuzz" / "run.py"
TARGETS = ["csr", "ocsp_request", "tsa_request", "pdf_verify", "xml_verify", "ra_json"]
SECONDS = int(os.environ.get("REGCA_FUZZ_SECONDS", "5"))

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("target", TARGETS)
def test_harness_runs_without_a_crash(target, tmp_path):
    done = subprocess.run([sys.executable, str(RUN), target, str(SECONDS), "--artifacts",
                           str(tmp_path)], capture_output=True, text=True,
                          timeout=SECONDS + 240)
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert done.returncode == 0 and not crashes, (crashes, done.stderr[-3000:])
    runs = [line for line in done.stderr.splitlines() if "number_of_executed_units" in line]
    assert runs and int(runs[0].split(":")[-1]) > 100, done.stderr[-2000:]


def test_the_harnesses_cover_every_parser_entry_point():
    sys.path.insert(0, str(RUN.parent))
    from harnesses import TARGETS as DEFINED
    assert sorted(DEFINED) == sorted(TARGETS)
