"""``regca serve``: one WSGI app per worker process, built after the fork, under granian (the
default: a Rust HTTP server, about three times gunicorn's rate for the OCSP and TSA fronts on
this app) or gunicorn (``--server gunicorn``).

Each worker opens its own PKCS#11 session and database pool (DESIGN.md, "Keys"): the app is
built in the worker, never in the parent, whichever server forks it.
"""

from __future__ import annotations

import os
import shutil
import time
from functools import partial
from pathlib import Path

from ca.context import CaContext
from ca.errors import ConfigurationError
from ca.issuance import Issuer
from edge.access_log import TARGET_ENVIRON
from edge.wsgi import API_KEY_ENVIRON
from regca.privacy import PRIVATE_UMASK, make_private, private_umask
from regca.scheduler import start_jobs
from regca.status_report import clear_heartbeat

__all__ = ["ACCESS_LOG_FORMAT", "SERVERS", "serve", "prepare_metrics"]

THREADS = 4  # per worker: concurrent TSA requests share group commits (tsa/journal.py)
# gunicorn's default line, then the id of the API key the request came with (``-`` for none;
# edge.wsgi.API_KEY_ENVIRON): which application made which call, never the key's secret. Under
# granian the app writes the same line itself (edge/access_log.py).
# The request line's target comes from edge.access_log.LoggableTarget: a PESEL in a query is
# never logged.
ACCESS_LOG_FORMAT = (f'%(h)s %(l)s %(u)s %(t)s "%(m)s %({{{TARGET_ENVIRON}}}e)s %(H)s" '
                     '%(s)s %(b)s "%(f)s" "%(a)s" '
                     f"key=%({{{API_KEY_ENVIRON}}}e)s")


def _worker_app(home: Path):
    """Runs in each worker after the fork: the app, its PKCS#11 session and database pool."""
    from regca.wsgi import create_app
    return create_app(home)


def _granian_worker_app(home: Path, access_log: Path):
    """The same app, writing its own access-log lines (granian's format has no environ)."""
    from edge.access_log import AccessLogFile, AccessLogged
    return AccessLogged(_worker_app(home), AccessLogFile(access_log))


def prepare_metrics(home: Path) -> Path:
    """Before the fork, and before anything here imports prometheus-client (which reads the
    variable when first imported): an empty directory where every worker writes its counts,
    which any worker's /metrics sums (regca/metrics.py, multiprocess mode)."""
    where = home / "run" / "metrics"
    shutil.rmtree(where, ignore_errors=True)  # a previous run's counts are not this run's
    where.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(where)
    return where


def _gunicorn(home: Path, bind: str, workers: int, access_log: Path) -> None:
    from gunicorn.app.base import BaseApplication

    class App(BaseApplication):
        def load_config(self):
            for key, value in {"bind": bind, "workers": workers, "worker_class": "gthread",
                               "threads": THREADS, "accesslog": str(access_log),
                               "access_log_format": ACCESS_LOG_FORMAT, "errorlog": "-",
                               "loglevel": "warning", "timeout": 60,
                               "umask": PRIVATE_UMASK,
                               # X-Forwarded-* are the web's to believe, and only when
                               # [enrollment] trusted_proxies says so (README)
                               "forwarded_allow_ips": ""}.items():
                self.cfg.set(key, value)

        def load(self):
            from edge.access_log import LoggableTarget
            return LoggableTarget(_worker_app(home))

    App().run()  # SIGHUP: new workers, then the old ones finish their requests and stop


def _split_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigurationError(f"--bind {bind!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def _granian(home: Path, bind: str, workers: int, access_log: Path) -> None:
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    class Granian(Server):
        def _respawn_workers(self, indexes, spawn_target, target_loader, delay: float = 0):
            """A worker that dies is replaced unless it died within a second of its own start
            (its app cannot load: a crash loop, which stops the server). granian's own guard
            is 5.5 s, and a SIGKILLed worker under load, replaced and killed again within
            seconds, is exactly what a 24/7 service must shrug off."""
            super()._respawn_workers(indexes, spawn_target, target_loader, delay)
            for idx in indexes:  # granian stops when a worker dies within 5.5 s of this
                self.respawned_wrks[idx] = time.monotonic() - 4.5

    # The code is imported here, once: a worker forked later (a replacement, or SIGHUP's new
    # ones) is ready in a fraction of a second instead of seconds of imports, so the reload's
    # overlap of old and new workers is short. Nothing is opened: the app is built in the worker.
    import regca.wsgi  # noqa: F401

    host, port = _split_bind(bind)
    access_log.touch()  # each worker appends to it (edge/access_log.py)
    logs = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"()": "logging.Formatter", "fmt": "%(message)s"}},
        "handlers": {
            "console": {"formatter": "plain", "class": "logging.StreamHandler",
                        "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        },
    }
    Granian(
        "regca.server:_granian_worker_app", address=host, port=port, interface=Interfaces.WSGI,
        workers=workers, blocking_threads=THREADS, backpressure=4 * THREADS,
        log_level=LogLevels.warning, log_dictconfig=logs, log_access=False,
        respawn_failed_workers=True, respawn_interval=2.0,
        workers_kill_timeout=30,
    ).serve(target_loader=partial(_granian_worker_app, home, access_log), wrap_loader=False)
    # SIGHUP: each worker is replaced in turn, a new one started before the old one stops.


SERVERS = {"granian": _granian, "gunicorn": _gunicorn}


def _seal_clear_fields(ctx: CaContext) -> CaContext:
    """TOTP secrets and PESELs of an older home encrypted at rest before any worker starts."""
    from regca.sealed_fields import seal_clear_fields
    done = seal_clear_fields(ctx)
    if done.kek_added:
        print("generated the HSM's key-encryption key for TOTP secrets and PESELs "
              f"(hsm.keys.kek, added to {ctx.settings.config_file})")
    if done.totp_secrets or done.pesels or done.certificates:
        print(f"encrypted {done.totp_secrets} TOTP secret(s), {done.pesels} PESEL(s) and "
              f"{done.certificates} certificate(s) naming a PESEL kept in clear by an older "
              "RegCA, and rewrote the database without them")
    return done.ctx


def serve(home: Path, bind: str, workers: int, server: str = "granian") -> None:
    run = SERVERS[server]
    private_umask()  # the workers fork from here: what they write is 0600 too
    ctx = CaContext.open(home)
    opened = make_private(ctx.settings.home, ctx.db.files)  # a SQLite file kept elsewhere too
    if opened:
        print(f"made {len(opened)} path(s) private to this account (directories 0700, files "
              f"0600), first {opened[0]}: the home holds PESELs, password hashes and PINs")
    prepare_metrics(ctx.settings.home)
    ctx.db.migrate()  # a home made by an older RegCA gets the newer capabilities' tables
    ctx = _seal_clear_fields(ctx)
    ctx.check_keys()  # a certificate that does not certify its HSM key stops us here
    settled = Issuer(ctx).reconcile()
    if settled:
        print(f"settled {len(settled)} interrupted issuance(s) as revoked")
    base = f"http://{bind}"
    print(f"RegCA serving {ctx.settings.home} on {base} ({server}, {workers} workers)")
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
    access_log = ctx.settings.log_dir / "access.log"
    ctx.db.dispose()  # the workers open pools of their own; the parent keeps no connection
    jobs = start_jobs(ctx.settings.home)  # CRLs and OCSP refresh, in a process of their own
    try:
        run(ctx.settings.home, bind, workers, access_log)
    finally:
        jobs.terminate()
        jobs.wait(timeout=10)
        clear_heartbeat(ctx.settings.home)  # stopped on purpose: `regca status` says so
