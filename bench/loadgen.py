"""A small HTTP load generator for the OCSP benchmark: one process per connection, requests
replayed from a list, latency per request, optional pacing to a fixed total rate.

Its own limits are reported with each run, so a figure it cannot vouch for is visible: the CPU
the generator spent per response (``client_cpu_us``; on a 2-core host it takes that from the
server) and, when paced, how late it sent (``send_lag_p99``, milliseconds after the scheduled
time; a connection still waiting for its previous answer sends late, and so does a generator
that cannot keep up).

``wrk`` cannot drive `openssl ocsp -port`: OpenSSL 3.0's responder writes a bare
"HTTP/1.0 200 OK" line before its real response head, which wrk's parser rejects (0 requests
completed). This client reads each response to its Content-Length (RegCA, keep-alive) or to
the connection's end (openssl, which closes after each answer), so both servers meet the same
client.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import time


def _read_response(sock: socket.socket, buf: bytes) -> tuple[bytes, bool]:
    """Read one response; returns (rest of buffer, connection still usable)."""
    while True:
        head_end = buf.rfind(b"\r\n\r\n")
        if head_end >= 0 and b"content-length:" in buf[:head_end + 4].lower():
            head = buf[:head_end + 4].lower()
            start = head.rfind(b"content-length:") + 15
            length = int(head[start:head.index(b"\r\n", start)])
            end = head_end + 4 + length
            while len(buf) < end:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed mid-body")
                buf += chunk
            keep = not buf[:head_end].startswith(b"HTTP/1.0")
            return buf[end:], keep
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buf += chunk


def _before_the_server() -> None:
    """A paced generator sharing the server's cores runs ahead of it where the system allows
    (root may raise a priority): a send then leaves on its schedule instead of waiting for a
    core, and the latencies are the server's queueing, not the generator's own lateness. Its
    lateness is still measured and reported."""
    try:
        os.nice(-10)
    except OSError:
        pass  # not allowed here: the send lag reported says how late it was


def _worker(port: int, requests: list[bytes], start_index: int, duration: float,
            interval: float, queue) -> None:
    latencies, lags, errors, i = [], [], 0, start_index
    sock, buf = None, b""
    if interval:
        _before_the_server()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    next_at = t0
    while True:
        now = time.perf_counter()
        if now - t0 >= duration:
            break
        if interval:
            if next_at > now:
                time.sleep(next_at - now)
            sent_at = next_at  # latency from the scheduled time: no coordinated omission
            lags.append(max(0.0, now - next_at))
            next_at += interval
        else:
            sent_at = time.perf_counter()
        try:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", port))
                buf = b""
            sock.sendall(requests[i % len(requests)])
            i += 1
            buf, keep = _read_response(sock, buf)
            latencies.append(time.perf_counter() - sent_at)
            if not keep:
                sock.close()
                sock = None
        except OSError:
            errors += 1
            if sock is not None:
                sock.close()
            sock = None
    if sock is not None:
        sock.close()
    queue.put((latencies, errors, time.perf_counter() - t0, lags, time.process_time() - cpu0))


def run(port: int, requests: list[bytes], duration: float, connections: int,
        rate: float | None = None, disjoint: bool = False) -> dict:
    """Drive ``port`` with ``connections`` processes; ``rate`` paces them to that total.
    ``disjoint`` gives each connection its own slice of ``requests`` (no request twice)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    interval = connections / rate if rate else 0.0
    step = len(requests) // connections if disjoint else 0
    procs = [ctx.Process(target=_worker, args=(port, requests, n * step, duration, interval,
                                               queue)) for n in range(connections)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for r in results for x in r[0])
    lags = sorted(x for r in results for x in r[3])
    elapsed = max(r[2] for r in results)
    errors = sum(r[1] for r in results)
    if not latencies:
        return {"rps": 0.0, "p50": 0.0, "p99": 0.0, "errors": errors, "offered": rate or 0.0,
                "client_cpu_us": 0.0, "send_lag_p99": 0.0}
    return {"rps": len(latencies) / elapsed, "offered": rate or 0.0,
            "p50": _percentile(latencies, 0.50) * 1000,
            "p99": _percentile(latencies, 0.99) * 1000,
            "errors": errors,
            "client_cpu_us": sum(r[4] for r in results) / len(latencies) * 1e6,
            "send_lag_p99": _percentile(lags, 0.99) * 1000 if lags else 0.0}


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]
