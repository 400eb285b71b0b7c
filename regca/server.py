"""``regca serve``: gunicorn with one app per worker, built after the fork.

Each worker opens its own PKCS#11 session and database pool (DESIGN.md, "Keys").
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gunicorn.app.base import BaseApplication

from ca.context import CaContext
from ca.issuance import Issuer
from edge.wsgi import API_KEY_ENVIRON
from regca.privacy import PRIVATE_UMASK, make_private, private_umask
from regca.scheduler import start_jobs
from regca.status_report import clear_heartbeat

__all__ = ["ACCESS_LOG_FORMAT", "serve", "prepare_metrics"]

# gunicorn's default line, then the id of the API key the request came with (``-`` for none;
# edge.wsgi.API_KEY_ENVIRON): which application made which call, never the key's secret.
ACCESS_LOG_FORMAT = ('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
                     f"key=%({{{API_KEY_ENVIRON}}}e)s")


class _Gunicorn(BaseApplication):
    def __init__(self, home: Path, options: dict):
        self.home, self.options = home, options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from regca.wsgi import create_app
        return create_app(self.home)


def prepare_metrics(home: Path) -> Path:
    """Before the fork, and before anything here imports prometheus-client (which reads the
    variable when first imported): an empty directory where every worker writes its counts,
    which any worker's /metrics sums (regca/metrics.py, multiprocess mode)."""
    where = home / "run" / "metrics"
    shutil.rmtree(where, ignore_errors=True)  # a previous run's counts are not this run's
    where.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(where)
    return where


def serve(home: Path, bind: str, workers: int) -> None:
    private_umask()  # the workers fork from here: what they write is 0600 too
    ctx = CaContext.open(home)
    opened = make_private(ctx.settings.home, ctx.db.files)  # a SQLite file kept elsewhere too
    if opened:
        print(f"made {len(opened)} path(s) private to this account (directories 0700, files "
              f"0600), first {opened[0]}: the home holds PESELs, password hashes and PINs")
    prepare_metrics(ctx.settings.home)
    ctx.db.migrate()  # a home made by an older RegCA gets the newer capabilities' tables
    ctx.check_keys()  # a certificate that does not certify its HSM key stops us here
    settled = Issuer(ctx).reconcile()
    if settled:
        print(f"settled {len(settled)} interrupted issuance(s) as revoked")
    base = f"http://{bind}"
    print(f"RegCA serving {ctx.settings.home} on {base}")
    for path, what in (("/", "enrollment web (officers, residents, auditors)"),
                       ("/ocsp", "OCSP responder"), ("/tsa", "time-stamp authority"),
                       ("/crl/issuing.crl", "CRL (also /crl/root.crl, *-delta.crl)"),
                       ("/ca/issuing.crt", "CA certificates (also /ca/root.crt)"),
                       ("/api/v1/openapi.json", "signing, verification and RA API"),
                       ("/transparency/v1/sth", "transparency log (signed audit log)"),
                       ("/healthz", "health"), ("/metrics", "metrics (Prometheus)")):
        print(f"  {base}{path:24} {what}")
    logins = ctx.settings.home / "demo-logins.txt"
    if logins.exists():
        print("demo log-ins (user, role, password):")
        for line in logins.read_text().splitlines():
            print("  " + line.replace("\t", "  "))
    jobs = start_jobs(ctx.settings.home)  # CRLs and OCSP refresh, in a process of their own
    try:
        _Gunicorn(ctx.settings.home, {
            "bind": bind, "workers": workers, "worker_class": "gthread", "threads": 4,
            "accesslog": str(ctx.settings.log_dir / "access.log"), "errorlog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "loglevel": "warning", "timeout": 60, "umask": PRIVATE_UMASK,
        }).run()
    finally:
        jobs.terminate()
        jobs.wait(timeout=10)
        clear_heartbeat(ctx.settings.home)  # stopped on purpose: `regca status` says so
