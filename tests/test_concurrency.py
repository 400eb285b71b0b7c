"""Concurrent issuance from several processes and threads: distinct serials, every row issued,
one linear audit chain (the head row serialises appenders; SoftHSM2 log-ins are retried)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import RESIDENT, make_csr
from sqlalchemy import func, select

from ca.store.audit import verify_chain
from ca.store.models import AuditEvent, Certificate

pytestmark = [pytest.mark.hsm, pytest.mark.slow]

_WORKER = textwrap.dedent("""
    import json, sys
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path
    from ca.context import CaContext
    from ca.issuance import IssuanceRequest, Issuer

    home, csr_file, subject = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    csrs = json.load(open(csr_file))
    issuer = Issuer(CaContext.open(Path(home)))
    with ThreadPoolExecutor(max_workers=4) as pool:
        issued = pool.map(lambda c: issuer.issue(IssuanceRequest(
            "resident-signing", c, dict(subject), "load")), csrs)
        print("\\n".join(i.serial for i in issued))
""")


def test_200_concurrent_issue_calls_give_200_serials_and_a_valid_chain(ctx, tmp_path):
    processes, per_process = 4, 50
    with ctx.db.reading() as s:
        events_before = s.scalar(select(func.count()).select_from(AuditEvent))
    workers = []
    for n in range(processes):
        batch = tmp_path / f"csrs-{n}.json"
        batch.write_text(json.dumps([make_csr().decode() for _ in range(per_process)]))
        workers.append(subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(ctx.settings.home), str(batch),
             json.dumps(RESIDENT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    serials = []
    for w in workers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
        serials += out.split()
    assert len(serials) == len(set(serials)) == processes * per_process
    with ctx.db.reading() as s:
        statuses = s.execute(select(Certificate.status)
                             .where(Certificate.serial.in_(serials))).scalars().all()
        assert statuses.count("issued") == processes * per_process
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == \
            events_before + processes * per_process
        _count, problems = verify_chain(s)
    assert problems == []
