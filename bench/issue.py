"""Certificates issued per second, end to end (validated, recorded, HSM-signed, stored, audited),
on SQLite and PostgreSQL, next to the ceiling: cryptography signing the same certificates with a
file key in the same process.

    .venv/bin/python bench/issue.py [--count 2000] [--processes 2] [--threads 1,4]
                                    [--repeat 3] [--databases sqlite,postgres] [--postgres URL]

One thread per process issues on the process's own thread, as `regca issue` or a sync worker
does; more stand for gunicorn gthread workers' threads, handed the calls by a pool: concurrent
callers in one process share their commits (group commit), but contend for the GIL, and each
hand-off between threads costs its own (measured here: a pool of one thread spent about 0.3 ms
more CPU per certificate than the process's own thread). The machine's speed drifts
(on a shared host, by half within minutes), so the ceiling is measured before and after each
run, every setting runs ``--repeat`` times, and the table gives medians and the range seen,
with the CPU time the workers spent per certificate (user + system), which drifts less.

Writes a table to bench/results/issue.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
# the repository before bench/, whose ocsp.py and tsa.py would shadow the packages
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import RESIDENT, fresh_database, make_csr  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from ca.certbuilder import build, signature_hash  # noqa: E402
from ca.context import CaContext  # noqa: E402
from ca.issuance import IssuanceRequest, Issuer  # noqa: E402
from ca.serials import new_serial  # noqa: E402
from regca.bootstrap import InitOptions, initialise  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "issue.md"


def _worker(home: str, csrs: list[bytes], threads: int, start, done, cpu) -> None:
    issuer = Issuer(CaContext.open(Path(home)))
    issuer.issue(IssuanceRequest("resident-signing", csrs[0], dict(RESIDENT), "bench"))  # warm
    start.wait()
    before = os.times()
    if threads == 1:  # the process's own thread, as `regca issue` or a sync worker calls it
        for csr in csrs[1:]:
            issuer.issue(IssuanceRequest("resident-signing", csr, dict(RESIDENT), "bench"))
    else:  # a pool, as gunicorn gthread workers call it
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda csr: issuer.issue(
                IssuanceRequest("resident-signing", csr, dict(RESIDENT), "bench")), csrs[1:]))
    after = os.times()
    cpu.put(after.user - before.user + after.system - before.system)
    done.wait()


def end_to_end(home: Path, count: int, processes: int, threads: int) -> tuple[float, float]:
    """``(certificates/s, worker CPU ms per certificate)``: all workers warm up, start
    together, and the clock stops when the last one ends."""
    per = count // processes
    # a key of its own for every certificate: one key is certified for one subject only
    csrs = [[make_csr() for _ in range(per + 1)] for _ in range(processes)]
    fork = mp.get_context("fork")
    start, done = fork.Barrier(processes + 1), fork.Barrier(processes + 1)
    cpu = fork.Queue()
    procs = [fork.Process(target=_worker, args=(str(home), mine, threads, start, done, cpu))
             for mine in csrs]
    for p in procs:
        p.start()
    start.wait(timeout=120)
    began = time.perf_counter()
    done.wait(timeout=600)
    elapsed = time.perf_counter() - began
    spent = sum(cpu.get(timeout=10) for _ in procs)
    for p in procs:
        p.join()
    return per * processes / elapsed, spent / (per * processes) * 1000


def ceiling(ctx: CaContext, count: int) -> float:
    """cryptography alone: the same builder, signed with a P-256 key held in memory."""
    issuing = ctx.issuing_authority()
    file_key = ec.generate_private_key(ec.SECP256R1())
    issuer = Issuer(ctx)
    spec, _ = issuer.prepare(IssuanceRequest("resident-signing", make_csr(), dict(RESIDENT), "b"))
    now = dt.datetime.now(dt.timezone.utc)
    start = time.perf_counter()
    for _ in range(count):
        build(spec, issuing, new_serial(), now, now + dt.timedelta(days=365),
              ctx.urls).sign(file_key, signature_hash(file_key))
    return count / (time.perf_counter() - start)


def _measured(ctx: CaContext, home: Path, args, threads: int) -> dict:
    """Medians over ``args.repeat`` runs, each between two measures of the ceiling."""
    runs = []
    for _ in range(args.repeat):
        before = ceiling(ctx, args.count)
        rate, cpu_ms = end_to_end(home, args.count, args.processes, threads)
        top = (before + ceiling(ctx, args.count)) / 2
        runs.append((rate, cpu_ms, top, rate / top))
    rates = [r[0] for r in runs]
    return {"rate": statistics.median(rates), "low": min(rates), "high": max(rates),
            "cpu_ms": statistics.median(r[1] for r in runs),
            "ceiling": statistics.median(r[2] for r in runs),
            "ratio": statistics.median(r[3] for r in runs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--threads", default="1,4", help="issuing threads per process, a list")
    ap.add_argument("--repeat", type=int, default=3, help="runs per setting (medians)")
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
                    rows.append((backend, threads, _measured(ctx, home, args, threads)))
                ctx.db.dispose()
    lines = ["# Issuance throughput", "",
             f"`.venv/bin/python bench/issue.py --count {args.count} --repeat {args.repeat}`: "
             f"resident-signing certificates, EC P-256 issuing key in SoftHSM2, each validated, "
             f"recorded pending, HSM-signed, stored with its pre-signed OCSP response and "
             f"audited; {args.processes} processes, {os.cpu_count()} cores, "
             f"{dt.date.today().isoformat()}. Medians of {args.repeat} runs; the range is the "
             f"slowest and fastest run; CPU is the workers' user + system time per certificate "
             f"(the database server's is not counted).", "",
             "| database | threads per process | end to end (certs/s) | range | worker CPU "
             "(ms/cert) | cryptography + file key, 1 process (certs/s) | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {b} | {n} | {m['rate']:,.0f} | {m['low']:,.0f}–{m['high']:,.0f} "
              f"| {m['cpu_ms']:.2f} | {m['ceiling']:,.0f} | {m['ratio']:.2f} |"
              for b, n, m in rows]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
