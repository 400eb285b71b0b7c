"""Certificates issued per second, end to end (validated, recorded, HSM-signed, stored, audited),
on SQLite and PostgreSQL, next to the ceiling: cryptography signing the same certificates with a
file key in the same process.

    .venv/bin/python bench/issue.py [--count 2000] [--processes 2] [--threads 1,4]
                                    [--databases sqlite,postgres] [--postgres URL]

Threads per process stand for gunicorn gthread workers' threads: concurrent callers in one
process share their commits (group commit), but contend for the GIL. The ceiling is measured
before and after each run and averaged, as the machine's speed drifts.

Writes a table to bench/results/issue.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing as mp
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import RESIDENT, fresh_database, make_csr  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from ca.bootstrap import InitOptions, initialise  # noqa: E402
from ca.certbuilder import build, signature_hash  # noqa: E402
from ca.context import CaContext  # noqa: E402
from ca.issuance import IssuanceRequest, Issuer  # noqa: E402
from ca.serials import new_serial  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "issue.md"


def _worker(home: str, csrs: list[bytes], threads: int, start, done) -> None:
    issuer = Issuer(CaContext.open(Path(home)))
    issuer.issue(IssuanceRequest("resident-signing", csrs[0], dict(RESIDENT), "bench"))  # warm
    start.wait()
    with ThreadPoolExecutor(threads) as pool:  # as gunicorn gthread workers would call it
        list(pool.map(lambda csr: issuer.issue(
            IssuanceRequest("resident-signing", csr, dict(RESIDENT), "bench")), csrs[1:]))
    done.wait()


def end_to_end(home: Path, count: int, processes: int, threads: int) -> float:
    """All workers warm up, start together, and the clock stops when the last one ends."""
    per = count // processes
    csrs = [make_csr() for _ in range(per + 1)]
    fork = mp.get_context("fork")
    start, done = fork.Barrier(processes + 1), fork.Barrier(processes + 1)
    procs = [fork.Process(target=_worker, args=(str(home), csrs, threads, start, done))
             for _ in range(processes)]
    for p in procs:
        p.start()
    start.wait(timeout=120)
    began = time.perf_counter()
    done.wait(timeout=600)
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    return per * processes / elapsed


def ceiling(ctx: CaContext, count: int) -> float:
    """cryptography alone: the same builder, signed with a P-256 key held in memory."""
    issuing = ctx.authority("issuing")
    file_key = ec.generate_private_key(ec.SECP256R1())
    issuer = Issuer(ctx)
    spec, _ = issuer.prepare(IssuanceRequest("resident-signing", make_csr(), dict(RESIDENT), "b"))
    now = dt.datetime.now(dt.timezone.utc)
    start = time.perf_counter()
    for _ in range(count):
        build(spec, issuing, new_serial(), now, now + dt.timedelta(days=365),
              ctx.urls).sign(file_key, signature_hash(file_key))
    return count / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--threads", default="1,4", help="issuing threads per process, a list")
    ap.add_argument("--postgres", default=os.environ.get(
        "REGCA_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/test"))
    ap.add_argument("--databases", default="sqlite,postgres")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.databases.split(","):
            database = (fresh_database("postgres", Path(tmp), args.postgres)
                        if backend == "postgres"
                        else contextlib.nullcontext(None))  # None: the home's own SQLite file
            with database as url:
                home = Path(tmp) / f"home-{backend}"
                initialise(InitOptions(home, demo=True, database_url=url))
                ctx = CaContext.open(home)
                for threads in (int(t) for t in args.threads.split(",")):
                    before = ceiling(ctx, args.count)
                    rate = end_to_end(home, args.count, args.processes, threads)
                    top = (before + ceiling(ctx, args.count)) / 2
                    rows.append((backend, threads, rate, top))
                ctx.db.engine.dispose()
    lines = ["# Issuance throughput", "",
             f"`.venv/bin/python bench/issue.py --count {args.count}`: resident-signing "
             f"certificates, EC P-256 issuing key in SoftHSM2, each validated, recorded pending, "
             f"HSM-signed, stored with its two pre-signed OCSP responses and audited; "
             f"{args.processes} processes, {os.cpu_count()} cores, "
             f"{dt.date.today().isoformat()}.", "",
             "| database | threads per process | end to end (certs/s) "
             "| cryptography + file key, 1 process (certs/s) | ratio |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {b} | {n} | {r:,.0f} | {t:,.0f} | {r / t:.2f} |" for b, n, r, t in rows]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
