"""OCSP responder benchmark: RegCA (pre-signed responses; its WSGI app under granian, the
default of `regca serve`, and under gunicorn) next to `openssl ocsp -index ... -port` on the same
CA data, in the same run, with the ratios printed.

    .venv/bin/python bench/ocsp.py [--certs 100000] [--keys ec-p256,rsa-3072] [--duration 10]
                                   [--servers granian,gunicorn]

For each responder key type it initialises a throwaway home, bulk-loads ``--certs`` issued
certificates (10% revoked) into the store, pre-signs SHA-1 responses for ``--presign`` of them,
writes the same entries to an openssl index.txt, and drives both servers with the same
client (bench/loadgen.py: one process per connection) in three modes:

- cached: GET /ocsp/<base64> for pre-signed certificates (RFC 5019 style, no nonce);
- nonce:  POST with a 16-octet nonce, which RegCA must sign on demand;
- miss:   GET for certificates with no pre-signed response yet (signed, then stored).

openssl signs every answer, so its three modes differ only by the request. Each mode is run
flat out (``--connections`` connections), then at a constant offered rate: ``--load`` (80%) of
the rate that server achieved flat out in that mode, or ``--rate`` requests/s if given; latency
is counted from each request's scheduled time. The generator's CPU per response and how late it
sent (its own limits on a 2-core host) are reported beside each paced run. The peer responder
uses a file key: it is the comparison, never part of RegCA. Then RegCA alone is driven by wrk
(bench/wrkload.py), which costs the shared cores less than the Python client, in the cached and
nonce modes: flat out with the server's CPU per answer, and paced at ``--load`` of that rate
for open-loop latencies. Results go to bench/results/ocsp.md.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ca.context import CaContext  # noqa: E402
from ca.ocsp_cache import ResponseCache  # noqa: E402
from ca.ocsp_signer import issuer_hashes  # noqa: E402
from regca.bootstrap import InitOptions, _prepare_home, initialise  # noqa: E402

sys.path.append(str(ROOT / "bench"))
import loadgen  # noqa: E402  (bench/loadgen.py)
import wrkload  # noqa: E402  (bench/wrkload.py)
from seed import seed  # noqa: E402  (bench/seed.py)

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_home(path: Path, key: str) -> CaContext:
    opts = InitOptions(path, public_url="http://127.0.0.1:8080")
    _prepare_home(opts)  # writes regca.toml; the responder key type is set before keygen
    toml = path / "regca.toml"
    text = toml.read_text()
    text = re.sub(r'(\[hsm\.keys\.ocsp\][^\[]*algorithm = )"[^"]+"', rf'\1"{key}"', text)
    toml.write_text(text)
    initialise(opts)
    return CaContext.open(path)


def load_store(ctx: CaContext, count: int) -> list[tuple[str, bool]]:
    """``count`` issued certificates of the issuing CA, every tenth revoked."""
    entries = [(format(secrets.randbits(126) | 1 << 125, "x"), i % 10 == 0)
               for i in range(count)]
    seed(ctx, [(serial, "keyCompromise" if revoked else None) for serial, revoked in entries])
    return entries


def presign(ctx: CaContext, serials: list[str]) -> float:
    """Pre-sign SHA-1 responses for ``serials`` (the refresh job's code path); seconds taken."""
    from ca.store import ocsp as ocsp_store
    cache = ResponseCache(ctx)
    start = time.perf_counter()
    for i in range(0, len(serials), 500):
        with ctx.db.reading() as s:
            rows = ocsp_store.status_rows(s, serials[i:i + 500])
        cache.save_current([(row, r) for row in rows for r in cache.responses_for(row, ("sha1",))])
    return time.perf_counter() - start


def request_der(ih, serial: str, nonce: bool) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        ih.name_hash, ih.key_hash, int(serial, 16), hashes.SHA1())
    if nonce:
        b = b.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def http_requests(ih, serials: list[str], nonce: bool, server: str) -> list[bytes]:
    """Raw HTTP/1.1 requests: GET with the URL-encoded base64 request (RFC 6960 A.1), or a
    POST with a nonce. openssl's responder takes GET at ``/`` and RegCA at ``/ocsp/``."""
    out = []
    for serial in serials:
        der = request_der(ih, serial, nonce)
        if nonce:
            path = "/ocsp" if server == "regca" else "/"
            out.append((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Content-Type: application/ocsp-request\r\n"
                        f"Content-Length: {len(der)}\r\n\r\n").encode() + der)
        else:
            prefix = "/ocsp/" if server == "regca" else "/"
            path = prefix + urllib.parse.quote(base64.b64encode(der), safe="")
            out.append(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return out


def wrk_requests(ih, serials: list[str], nonce: bool) -> list[tuple[str, str, bytes]]:
    """The same requests as ``http_requests`` for RegCA, as wrk's script sends them."""
    if nonce:
        return [("POST", "/ocsp", request_der(ih, s, True)) for s in serials]
    return [("GET", "/ocsp/" + urllib.parse.quote(base64.b64encode(request_der(ih, s, False)),
                                                  safe=""), b"") for s in serials]


def wrk_runs(args, key: str, server: str, port: int, pid: int, ih, cached: list[str],
             tmp: Path) -> list[dict]:
    """RegCA under wrk, a client far cheaper than bench/loadgen.py (which openssl's responder
    needs): flat out with the server's CPU per answer, then paced at ``--load`` of that rate
    over twice the connections, for the latency an RFC 5019 client sees at 80% load."""
    out = []
    for mode, reqs in (("cached", wrk_requests(ih, cached[:5000], False)),
                       ("nonce", wrk_requests(ih, cached[:2000], True))):
        script = tmp / f"wrk-{mode}.lua"
        script.write_text(wrkload.rotating_script(reqs))
        url = f"http://127.0.0.1:{port}/"
        cpu = wrkload.tree_cpu(pid)
        flat = wrkload.flat(url, script, args.connections, args.duration)
        flat["server_cpu_us"] = (wrkload.tree_cpu(pid) - cpu) / max(1, flat["requests"]) * 1e6
        paced_script = tmp / f"wrk-{mode}-paced.lua"
        paced_script.write_text(wrkload.rotating_script(reqs) + wrkload.PACED_SCRIPT)
        paced = wrkload.paced(url, paced_script, args.load * flat["rps"],
                              2 * args.connections, args.duration)
        out.append({"key": key, "server": server, "mode": mode, "flat": flat, "paced": paced})
        print(f"   {server:7} {mode:6} wrk flat {flat['rps']:8.0f}/s p99 {flat['p99']:6.1f} "
              f"ms, server {flat['server_cpu_us']:.0f} us CPU/resp | at "
              f"{paced['offered']:.0f}/s: {paced['rps']:6.0f}/s p50 {paced['p50_ms']:6.1f} ms "
              f"p99 {paced['p99_ms']:6.1f} ms, send lag p99 {paced['lag_p99_ms']:.1f} ms "
              f"(errors {flat['errors'] + flat['socket_errors']}/"
              f"{paced['errors'] + paced['non2xx']:.0f})", flush=True)
    return out


def peer_files(tmp: Path, ctx: CaContext, entries, key: str) -> tuple[Path, Path, Path]:
    """index.txt, issuing CA certificate, and a file-key responder for `openssl ocsp`."""
    when = (ctx.now() + dt.timedelta(days=365)).strftime("%y%m%d%H%M%SZ")
    revoked_at = ctx.now().strftime("%y%m%d%H%M%SZ")
    with (tmp / "index.txt").open("w") as f:
        for i, (serial, revoked) in enumerate(entries):
            hexs = serial.upper()
            hexs = ("0" + hexs) if len(hexs) % 2 else hexs
            status = f"R\t{when}\t{revoked_at},keyCompromise" if revoked else f"V\t{when}\t"
            f.write(f"{status}\t{hexs}\tunknown\t/CN=bench {i}\n")
    issuing = tmp / "issuing.pem"
    issuing.write_bytes(ctx.certificate_of("issuing-ca").public_bytes(serialization.Encoding.PEM))
    pkey = ec.generate_private_key(ec.SECP256R1()) if key.startswith("ec") \
        else rsa.generate_private_key(65537, 3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openssl peer responder")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(pkey.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=2)).sign(pkey, hashes.SHA256()))
    (tmp / "peer.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "peer.key").write_bytes(pkey.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return tmp / "index.txt", issuing, tmp / "peer.pem"


def wait_port(port: int, proc: subprocess.Popen) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} ({proc.args[:2]})")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def start_regca(home: Path, port: int, workers: int, server: str, log: Path) -> subprocess.Popen:
    """The app as `regca serve` runs it (regca/server.py: workers, threads, access log), without
    the background jobs, which would pre-sign the misses under the load."""
    run = ("import sys; from pathlib import Path; from regca.server import SERVERS; "
           "SERVERS[sys.argv[1]](Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), "
           "Path(sys.argv[5]))")
    return subprocess.Popen(
        [sys.executable, "-c", run, server, str(home), f"127.0.0.1:{port}", str(workers),
         str(log)],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True,
        stdout=subprocess.DEVNULL)


def start_openssl(tmp: Path, index: Path, issuing: Path, port: int, workers: int):
    return subprocess.Popen(
        ["openssl", "ocsp", "-index", str(index), "-CA", str(issuing), "-rsigner",
         str(tmp / "peer.pem"), "-rkey", str(tmp / "peer.key"), "-port", str(port),
         "-multi", str(workers), "-nmin", "60", "-ignore_err"],
        # Not a new session: with -multi openssl makes its own process group (setpgid), which
        # a session leader may not; stop() then kills that group.
        stdout=subprocess.DEVNULL, stderr=(tmp / "openssl-ocsp.log").open("wb"))


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def check_answer(port: int, prefix: str, der: bytes) -> str:
    url = f"http://127.0.0.1:{port}{prefix}{urllib.parse.quote(base64.b64encode(der), safe='')}"
    body = urllib.request.urlopen(url, timeout=60).read()  # a miss signed on a busy host
    return ocsp.load_der_ocsp_response(body).certificate_status.name


def run_key(args, key: str, tmp: Path) -> list[dict]:
    print(f"== responder key {key}: home, {args.certs} certificates", flush=True)
    ctx = make_home(tmp / "home", key)
    t = time.perf_counter()
    entries = load_store(ctx, args.certs)
    print(f"   store loaded {time.perf_counter() - t:.1f} s", flush=True)
    serials = [s for s, _ in entries]
    n_cached = min(args.presign, len(serials) // 2) if args.presign else len(serials) // 2
    cached, misses = serials[:n_cached], serials[n_cached:]
    secs = presign(ctx, cached)
    print(f"   pre-signed {len(cached)} responses in {secs:.1f} s "
          f"({len(cached) / secs:.0f}/s)", flush=True)
    PRESIGNED.append(f"{key}: {len(cached)} in {secs:.1f} s ({len(cached) / secs:.0f}/s)")
    ih = next(h for h in issuer_hashes("issuing", ctx.certificate_of("issuing-ca"))
              if h.algorithm == "sha1")
    index, issuing, _ = peer_files(tmp, ctx, entries, key)
    ctx.db.dispose()
    results = []
    servers = (*args.servers.split(","), "openssl")
    for index_, server in enumerate(servers):
        peer = "openssl" if server == "openssl" else "regca"
        share = misses[index_::len(servers)]  # a miss is signed once, then it is a hit
        modes = {"cached": http_requests(ih, cached[:20000], False, peer),
                 "nonce": http_requests(ih, cached[:5000], True, peer),
                 "miss": http_requests(ih, share, False, peer)}
        port = free_port()
        proc = (start_regca(ctx.settings.home, port, args.workers, server, tmp / "access.log")
                if peer == "regca" else start_openssl(tmp, index, issuing, port, args.workers))
        prefix = "/ocsp/" if peer == "regca" else "/"
        try:
            wait_port(port, proc)
            statuses = [check_answer(port, prefix, request_der(ih, s, False))
                        for s in (cached[0], cached[1], share[-1])]
            print(f"   {server}: sample answers {statuses}", flush=True)
            for mode, reqs in modes.items():
                # each miss is signed once and is a hit afterwards: the paced run gets others
                half = len(reqs) // 2 if mode == "miss" else len(reqs)
                flat = loadgen.run(port, reqs[:half], args.duration, args.connections,
                                   disjoint=mode == "miss")
                rate = args.rate or max(1.0, args.load * flat["rps"])
                paced = loadgen.run(port, reqs[-half:], args.duration, args.connections,
                                    rate=rate, disjoint=mode == "miss")
                results.append({"key": key, "server": server, "mode": mode, "flat": flat,
                                "paced": paced})
                print(f"   {server:7} {mode:6} flat {flat['rps']:8.0f}/s p99 "
                      f"{flat['p99']:6.1f} ms | at {rate:.0f}/s: {paced['rps']:6.0f}/s p50 "
                      f"{paced['p50']:6.1f} ms p99 {paced['p99']:6.1f} ms, send lag p99 "
                      f"{paced['send_lag_p99']:.1f} ms (errors "
                      f"{flat['errors']}/{paced['errors']}; generator "
                      f"{flat['client_cpu_us']:.0f}/{paced['client_cpu_us']:.0f} us CPU/resp)",
                      flush=True)
            if peer == "regca" and args.wrk:
                WRK.extend(wrk_runs(args, key, server, port, proc.pid, ih, cached, tmp))
        finally:
            stop(proc)
    return results


PRESIGNED: list[str] = []
WRK: list[dict] = []  # RegCA under wrk (wrk_runs)
LOAD = os.getloadavg()


def table(results: list[dict], args) -> str:
    lines = [
        "# OCSP responder benchmark",
        "",
        f"`.venv/bin/python bench/ocsp.py --certs {args.certs} --presign {args.presign} "
        f"--keys {args.keys} "
        f"--duration {args.duration} "
        + (f"--rate {args.rate} " if args.rate else f"--load {args.load:g} ")
        + f"--connections {args.connections}`, "
        f"{os.cpu_count()} cores shared by server and load generator (bench/loadgen.py, "
        "one process per connection), "
        f"{args.workers} server processes each (RegCA: {args.servers} as `regca serve` runs "
        "them, 4 threads per worker, access log on; openssl: `-multi`), SoftHSM2 keys for "
        "RegCA, a file key for openssl, SQLite store, "
        f"{args.certs} certificates in the store and in index.txt (10% revoked). "
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average {LOAD[0]:.1f} before "
        "it: other jobs shared the cores, so compare the ratios (measured side by side), not "
        "the absolute figures.",
        "",
        "RegCA answers `cached` from pre-signed responses, signs `nonce` requests on demand "
        "and signs-then-stores `miss` requests; openssl signs every answer. \"flat\" is "
        f"{args.connections} connections as fast as possible; \"paced\" offers "
        + (f"about {args.rate} requests/s" if args.rate else
           f"{args.load:.0%} of that server's flat rate in that mode")
        + " at a constant pace, latency counted from each request's scheduled send time. "
        "\"gen CPU\" is the load generator's CPU per response (flat/paced), taken from the "
        "same cores; \"lag\" the 99th percentile of how late it sent when paced.",
        "",
        "| key | mode | server | flat resp/s | flat p99 ms | paced offered/s | paced resp/s "
        "| paced p50 ms | paced p99 ms | lag p99 ms | gen CPU us | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines[-3:-3] = ["Pre-signing through the refresh job's code path, one process: "
                    + "; ".join(PRESIGNED) + ".", ""]
    for r in results:
        f, p = r["flat"], r["paced"]
        lines.append(f"| {r['key']} | {r['mode']} | {r['server']} | {f['rps']:.0f} | "
                     f"{f['p99']:.1f} | {p['offered']:.0f} | {p['rps']:.0f} | "
                     f"{p['p50']:.1f} | {p['p99']:.1f} | {p['send_lag_p99']:.1f} | "
                     f"{f['client_cpu_us']:.0f}/{p['client_cpu_us']:.0f} | "
                     f"{f['errors'] + p['errors']} |")
    lines += ["", "Ratios of flat resp/s, measured side by side in this run:", "",
              "| key | mode | " + " | ".join(f"{s} / openssl" for s in args.servers.split(","))
              + " | granian / gunicorn |", "|---|---|" + "---:|" * (
                  len(args.servers.split(",")) + 1)]
    lines += [f"| {k} | {m} | {' | '.join(v)} |" for k, m, v in ratios(results, args)]
    if WRK:
        lines += ["", "RegCA alone under wrk (bench/wrkload.py; openssl's responder cannot be "
                  "driven by wrk, bench/loadgen.py says why): the same requests, "
                  f"{args.connections} keep-alive connections flat out, then "
                  f"{args.load:.0%} of that rate paced over {2 * args.connections} connections "
                  "by wrk running ahead of the server (nice -10). Server CPU is the user and "
                  "system time of the server's processes (/proc) per answer, flat out.", "",
                  "| key | mode | server | flat resp/s | flat p99 ms | server CPU us/resp "
                  "| paced offered/s | paced resp/s | paced p50 ms | paced p99 ms "
                  "| lag p99 ms | wrk CPU us | errors |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in WRK:
            f, p = r["flat"], r["paced"]
            lines.append(f"| {r['key']} | {r['mode']} | {r['server']} | {f['rps']:.0f} | "
                         f"{f['p99']:.1f} | {f['server_cpu_us']:.0f} | {p['offered']:.0f} | "
                         f"{p['rps']:.0f} | {p['p50_ms']:.1f} | {p['p99_ms']:.1f} | "
                         f"{p['lag_p99_ms']:.1f} | {p['client_cpu_us']:.0f} | "
                         f"{f['errors'] + f['socket_errors'] + p['errors'] + p['non2xx']:.0f} |")
    return "\n".join(lines) + "\n"


def ratios(results: list[dict], args) -> list[tuple[str, str, list[str]]]:
    rps = {(r["key"], r["mode"], r["server"]): r["flat"]["rps"] for r in results}
    out = []
    for key in args.keys.split(","):
        for mode in ("cached", "nonce", "miss"):
            peer = rps.get((key, mode, "openssl")) or float("nan")
            cells = [f"{rps.get((key, mode, s), float('nan')) / peer:.2f}"
                     for s in args.servers.split(",")]
            gran, guni = rps.get((key, mode, "granian")), rps.get((key, mode, "gunicorn"))
            cells.append(f"{gran / guni:.2f}" if gran and guni else "-")
            out.append((key, mode, cells))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--certs", type=int, default=100_000)
    p.add_argument("--presign", type=int, default=0,
                   help="responses to pre-sign (default: half the certificates)")
    p.add_argument("--keys", default="ec-p256,rsa-3072")
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--rate", type=int, default=0,
                   help="a fixed offered rate for the paced runs (default: --load of flat)")
    p.add_argument("--load", type=float, default=0.8,
                   help="the paced runs' share of the same server's flat rate")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--servers", default="granian,gunicorn",
                   help="the HTTP servers RegCA's app runs under, each measured")
    p.add_argument("--no-wrk", dest="wrk", action="store_false",
                   help="skip RegCA's runs under wrk (needs wrk: apt-get install wrk)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ocsp.md")
    args = p.parse_args()
    results = []
    for key in args.keys.split(","):
        with tempfile.TemporaryDirectory(prefix=f"regca-bench-{key}-") as tmp:
            results += run_key(args, key, Path(tmp))
    for key, mode, cells in ratios(results, args):
        print(f"{key} {mode}: " + ", ".join(
            f"{name} {cell}" for name, cell in zip(
                [f"{s}/openssl" for s in args.servers.split(",")] + ["granian/gunicorn"],
                cells, strict=True)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table(results, args))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
