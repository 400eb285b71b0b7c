#!/usr/bin/env python3
"""Audit the locked dependencies (requirements.lock) with pip-audit against PyPI's advisory
data. Exit 1 when a locked release has a known vulnerability; exit 0 saying so plainly when the
advisory database cannot be reached (an offline machine, a mirror without it), as then nothing
was checked, rather than failing a build over the network.

    .venv-audit/bin/python .ci/audit.py requirements.lock     (make audit)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main(lock: str) -> int:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    try:
        done = subprocess.run([str(pip_audit), "-r", lock, "--require-hashes", "--disable-pip",
                               "--format", "json", "--progress-spinner", "off"],
                              capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"dependency audit SKIPPED: pip-audit did not run ({exc})")
        return 0
    try:
        report = json.loads(done.stdout)
    except ValueError:
        why = " ".join((done.stderr.strip().splitlines() or ["no output"])[-1:])
        print(f"dependency audit SKIPPED: the advisory database is not reachable ({why})")
        return 0
    deps = report.get("dependencies", [])
    checked = [d for d in deps if "skip_reason" not in d]
    vulnerable = [d for d in checked if d.get("vulns")]
    for d in vulnerable:
        for v in d["vulns"]:
            fixed = ", ".join(v.get("fix_versions") or []) or "no fixed release"
            print(f"VULNERABLE {d['name']} {d['version']}: {v['id']} (fixed in {fixed})")
    if vulnerable:
        print(f"dependency audit FAILED: {len(vulnerable)} of {len(deps)} locked packages have "
              "known vulnerabilities; update them in requirements.lock (README, 'Dependencies')")
        return 1
    if not checked:
        print(f"dependency audit SKIPPED: the advisory database (PyPI's vulnerability data) is "
              f"not reachable from here: none of the {len(deps)} locked packages could be "
              "looked up")
        return 0
    skipped = len(deps) - len(checked)
    print(f"dependency audit passed: {len(checked)} locked packages checked, no known "
          f"vulnerabilities" + (f" ({skipped} could not be looked up)" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock"))
