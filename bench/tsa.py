"""Time-stamps per second and p99 latency of ``POST /tsa`` under ``regca serve``, next to the
raw PKCS#11 signing ceiling of the same TSA key from as many processes as the server has workers,
in the same run, with the ratios printed.

    .venv/bin/python bench/tsa.py [--seconds 10] [--workers 2] [--rounds 3]
                                  [--algorithms ec-p256,rsa-3072] [--servers granian,gunicorn]
                                  [--load 0.8]

For each key algorithm it initialises a throw-away home whose regca.toml (written before
``regca init``) chooses the TSA key, measures the ceiling with the server stopped, drives
``regca serve --server S`` for each server with ``wrk`` (one keep-alive connection per server
thread), measures the ceiling again, and finally an empty WSGI app (bench/bare_wsgi.py) under
each server's same set-up: the web stack's own limit. The table goes to bench/results/tsa.md.
The load generator shares the machine's cores with the server.

wrk is closed-loop: its p99 is the latency at full load. After it, the same server is offered a
constant ``--load`` share (80%) of the median rate wrk achieved, by wrk with a pacing script
(bench/wrkload.py), over twice as many connections as the server has threads. The
generator's CPU per request is reported too (it shares the server's two cores). bench/loadgen.py
(Python, one process per connection) was tried for this first: on 2 cores it reached only
about 0.8x wrk's flat-out rate against the same server, so 80% of wrk's rate overloaded it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asn1crypto import algos  # noqa: E402
from pkcs11 import Mechanism  # noqa: E402

from ca.context import CaContext  # noqa: E402
from regca.bootstrap import InitOptions, initialise  # noqa: E402

sys.path.append(str(ROOT / "bench"))
import wrkload  # noqa: E402  (bench/wrkload.py)

REGCA = str(Path(sys.executable).with_name("regca"))
WRK_SCRIPT = """
local f = io.open(os.getenv("TSA_QUERY"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/timestamp-query"
"""


def prepare_home(home: Path, tsa_algorithm: str) -> None:
    """A home whose TSA key has the algorithm under test."""
    initialise(InitOptions(home, operator_name="RegCA bench",
                           key_algorithms={"tsa": tsa_algorithm}))


def _sign_loop(home: str, seconds: float, barrier, results) -> None:
    ctx = CaContext.open(Path(home))
    key = ctx.key_pair("tsa").key
    digest = hashlib.sha256(b"bench").digest()
    if key.__class__.__name__ == "Pkcs11EcKey":
        data, mechanism = digest, Mechanism.ECDSA
    else:  # RFC 8017 §9.2: CKM_RSA_PKCS signs the DigestInfo
        data = algos.DigestInfo({"digest_algorithm": {"algorithm": "sha256"},
                                 "digest": digest}).dump()
        mechanism = Mechanism.RSA_PKCS
    ctx.hsm.sign_raw("tsa", data, mechanism)  # log in before the clock starts
    barrier.wait()
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        ctx.hsm.sign_raw("tsa", data, mechanism)
        count += 1
    results.put(count)


def pkcs11_ceiling(home: Path, processes: int, seconds: float) -> float:
    """Raw C_Sign calls per second with the TSA key, summed over ``processes`` processes."""
    mp = multiprocessing.get_context("spawn")
    barrier, results = mp.Barrier(processes), mp.Queue()
    procs = [mp.Process(target=_sign_loop, args=(str(home), seconds, barrier, results))
             for _ in range(processes)]
    for p in procs:
        p.start()
    total = sum(results.get(timeout=seconds + 120) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited")
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def bare_wsgi(workers: int, seconds: float, server: str) -> float:
    """Requests/s of an empty WSGI app under ``server`` set up as ``regca serve`` sets it up."""
    port = _free_port()
    if server == "gunicorn":
        cmd = [str(Path(sys.executable).with_name("gunicorn")), "--chdir", str(ROOT / "bench"),
               "-w", str(workers), "-k", "gthread", "--threads", "4", "-b",
               f"127.0.0.1:{port}", "bare_wsgi:app"]
    else:
        cmd = [str(Path(sys.executable).with_name("granian")), "--interface", "wsgi",
               "--working-dir", str(ROOT / "bench"), "--workers", str(workers),
               "--blocking-threads", "4", "--backpressure", "16", "--port", str(port),
               "--log-level", "warning", "bare_wsgi:app"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_up(f"http://127.0.0.1:{port}", proc)
        out = subprocess.run(["wrk", "-t1", f"-c{workers * 4}", f"-d{int(seconds)}s",
                              f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                             check=True).stdout
        return wrkload.rps(out)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def serve_and_load(home: Path, workers: int, seconds: float, work: Path, rounds: int,
                   server: str, load: float) -> dict:
    query = work / "q.tsq"
    (work / "data.txt").write_bytes(os.urandom(1024))
    subprocess.run(["openssl", "ts", "-query", "-data", str(work / "data.txt"), "-sha256",
                    "-cert", "-out", str(query)], check=True, capture_output=True)
    script = work / "tsa.lua"
    script.write_text(WRK_SCRIPT)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([REGCA, "--home", str(home), "serve", "--bind", f"127.0.0.1:{port}",
                             "--workers", str(workers), "--server", server],
                            stdout=subprocess.DEVNULL,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        _wait_up(base, proc)
        check = urllib.request.Request(base + "/tsa", data=query.read_bytes(), headers={
            "Content-Type": "application/timestamp-query"})
        reply = urllib.request.urlopen(check).read()
        (work / "r.tsr").write_bytes(reply)
        verified = subprocess.run(
            ["openssl", "ts", "-verify", "-in", str(work / "r.tsr"), "-queryfile", str(query),
             "-CAfile", str(work / "chain.pem"), "-untrusted", str(work / "tsa.pem")],
            capture_output=True, text=True)
        if "Verification: OK" not in verified.stdout:
            raise SystemExit(f"token does not verify: {verified.stdout}{verified.stderr}")
        env = dict(os.environ, TSA_QUERY=str(query))
        connections = workers * 4  # regca serve runs 4 threads per worker
        subprocess.run(["wrk", "-t1", f"-c{connections}", "-d2s", "-s", str(script),
                        base + "/tsa"], env=env, capture_output=True)  # warm-up
        cpu_before = wrkload.tree_cpu(proc.pid)
        runs = sorted((subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s",
             str(script), base + "/tsa"], env=env, capture_output=True, text=True,
            check=True).stdout for _ in range(rounds)), key=wrkload.rps)
        cpu_us = ((wrkload.tree_cpu(proc.pid) - cpu_before)
                  / sum(map(wrkload.completed, runs)) * 1e6)
        out = runs[len(runs) // 2]  # the median round: this machine's speed drifts
        cpu_before = wrkload.tree_cpu(proc.pid)
        script_paced = work / "tsa-paced.lua"
        script_paced.write_text(WRK_SCRIPT + wrkload.PACED_SCRIPT)
        paced = wrkload.paced(base + "/tsa", script_paced, load * wrkload.rps(out),
                              connections * 2, seconds, env)
        paced["server_cpu_us"] = ((wrkload.tree_cpu(proc.pid) - cpu_before)
                                  / max(1.0, paced["rps"] * int(seconds)) * 1e6)
        # The same server answering its cheapest route: what the web stack alone allows here.
        stack = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s",
                                base + "/healthz"], capture_output=True, text=True,
                               check=True).stdout
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": wrkload.rps(out), "stack_rps": wrkload.rps(stack),
            "p50": wrkload.latency_ms(out, "50%"), "p99": wrkload.latency_ms(out, "99%"),
            "errors": int(errors.group(1)) if errors else 0, "connections": connections,
            "paced": paced, "cpu_us": cpu_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--algorithms", default="ec-p256,rsa-3072")
    parser.add_argument("--rounds", type=int, default=3, help="load rounds; the median counts")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tsa.md")
    parser.add_argument("--servers", default="granian,gunicorn")
    parser.add_argument("--load", type=float, default=0.8,
                        help="the share of wrk's flat-out rate offered in the paced run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found (apt-get install wrk)")
    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="regca-bench-tsa-") as tmp:
        for algorithm in args.algorithms.split(","):
            work = Path(tmp) / algorithm
            home = work / "home"
            prepare_home(home, algorithm)
            subprocess.run([REGCA, "--home", str(home), "export-ca", "--out", str(work)],
                           check=True, stdout=subprocess.DEVNULL)
            before = pkcs11_ceiling(home, args.workers, args.seconds)
            runs = {}
            for server in args.servers.split(","):
                runs[server] = serve_and_load(home, args.workers, args.seconds, work,
                                              args.rounds, server, args.load)
            ceiling = (before + pkcs11_ceiling(home, args.workers, args.seconds)) / 2
            for server, served in runs.items():
                served["bare_rps"] = bare_wsgi(args.workers, args.seconds, server)
                rows.append((algorithm, server, ceiling, served))
                print(f"{algorithm} {server}: ceiling {ceiling:,.0f} sig/s, TSA "
                      f"{served['rps']:,.0f} tokens/s = {served['rps'] / ceiling:.2f} x ceiling, "
                      f"p99 {served['p99']:.1f} ms, errors {served['errors']}, server CPU "
                      f"{served['cpu_us']:.0f} us/token", flush=True)
                p = served["paced"]
                print(f"  paced at {p['offered']:,.0f}/s ({args.load:.0%}): {p['rps']:,.0f}/s, "
                      f"p50 {p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms, errors "
                      f"{p['errors'] + p['non2xx']:.0f}; send lag p99 {p['lag_p99_ms']:.1f} ms, "
                      f"wrk {p['client_cpu_us']:.0f} us CPU/request, server CPU "
                      f"{p['server_cpu_us']:.0f} us/token", flush=True)
            if {"granian", "gunicorn"} <= runs.keys():
                print(f"{algorithm}: granian / gunicorn "
                      f"{runs['granian']['rps'] / runs['gunicorn']['rps']:.2f}", flush=True)
    lines = [
        "# TSA throughput",
        "",
        f"`.venv/bin/python bench/tsa.py --seconds {args.seconds:g} --workers {args.workers} "
        f"--rounds {args.rounds}` "
        f"on {platform.node()} ({os.cpu_count()} cores, shared with the load generator), "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average "
        f"{load_before:.1f} before the run (other jobs share the machine).",
        "",
        f"SHA-256 queries with certReq; `regca serve --server S` ({args.servers}, "
        f"{args.workers} workers x 4 threads), SQLite home; load from `wrk` with one "
        "keep-alive connection per server thread, the median of the rounds. Ceiling: raw C_Sign "
        f"with the same TSA key from {args.workers} processes, server stopped, measured before "
        "and after the load and averaged. Paced: wrk offering "
        f"{args.load:.0%} of that rate on one fixed schedule over twice the connections "
        "(bench/wrkload.py PACED_SCRIPT); send lag is how late a send left against its schedule "
        "(99th percentile; near zero, the latencies are open-loop ones), wrk CPU its own cost "
        "per request on the shared cores. Server CPU: user and system time of the server's "
        "processes (/proc) over the load rounds, per token answered.",
        "",
        "| TSA key | server | PKCS#11 ceiling (sig/s) | time-stamps/s | p50 (ms) | p99 (ms) | "
        "share of ceiling | server CPU (us/token) | non-2xx | GET /healthz (req/s) | empty WSGI "
        f"app, same server (req/s) | paced at {args.load:.0%} (req/s) | paced achieved | "
        "paced p50 (ms) | paced p99 (ms) | paced errors | send lag p99 (ms) | wrk CPU (us/req) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for algorithm, server, ceiling, s in rows:
        p = s["paced"]
        lines.append(f"| {algorithm} | {server} | {ceiling:,.0f} | {s['rps']:,.0f} | "
                     f"{s['p50']:.1f} | "
                     f"{s['p99']:.1f} | {s['rps'] / ceiling:.0%} | {s['cpu_us']:.0f} | "
                     f"{s['errors']} | {s['stack_rps']:,.0f} | {s['bare_rps']:,.0f} | "
                     f"{p['offered']:,.0f} | {p['rps']:,.0f} | {p['p50_ms']:.1f} | "
                     f"{p['p99_ms']:.1f} | {p['errors'] + p['non2xx']:.0f} | "
                     f"{p['lag_p99_ms']:.1f} | {p['client_cpu_us']:.0f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
