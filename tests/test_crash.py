"""A process killed between the HSM signature and the store leaves a consistent database."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import RESIDENT, make_csr, run_cli
from sqlalchemy import select

from ca.clock import FixedClock
from ca.context import CaContext
from ca.issuance import Issuer
from ca.store.models import AuditEvent, Certificate

pytestmark = pytest.mark.hsm

_VICTIM = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from ca.context import CaContext
    from ca.issuance import IssuanceRequest, Issuer

    home, csr, subject = sys.argv[1], open(sys.argv[2], "rb").read(), sys.argv[3]
    issuer = Issuer(CaContext.open(Path(home)))

    def killed_before_storing(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # as `kill -9` would, after the HSM signed

    issuer._store_issued = killed_before_storing
    issuer.issue(IssuanceRequest("resident-signing", csr, __import__("json").loads(subject),
                                 "crash-test"))
""")


def _pending(ctx):
    with ctx.db.reading() as s:
        return s.execute(select(Certificate).where(Certificate.status == "pending")).scalars().all()


def test_kill_between_signing_and_storing_is_reconciled(ctx, tmp_path):
    (tmp_path / "r.csr").write_bytes(make_csr())
    done = subprocess.run([sys.executable, "-c", _VICTIM, str(ctx.settings.home),
                           str(tmp_path / "r.csr"), json.dumps(RESIDENT)],
                          capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    pending = _pending(ctx)
    assert len(pending) == 1 and pending[0].der is None and pending[0].tbs
    serial = pending[0].serial
    assert run_cli(ctx.settings.home, "audit", "verify").code == 0

    # A restart within the grace period leaves it alone: another worker may still be signing.
    assert Issuer(ctx).reconcile() == []

    later = CaContext(ctx.settings, FixedClock(dt.datetime.now(dt.timezone.utc)
                                                + dt.timedelta(hours=1)))
    assert Issuer(later).reconcile() == [serial]
    assert _pending(ctx) == []
    with ctx.db.reading() as s:
        row = s.get(Certificate, serial)
        assert row.status == "abandoned" and row.revoked_at is not None
        event = s.execute(select(AuditEvent).where(AuditEvent.object == f"certificate:{serial}",
                                                   AuditEvent.action == "certificate.abandon")
                          ).scalar_one()
        assert event.actor == "system"
    assert run_cli(ctx.settings.home, "audit", "verify").code == 0
    r = run_cli(ctx.settings.home, "revoke", serial, "--reason", "keyCompromise")
    assert r.code == 1 and "never issued" in r.err
