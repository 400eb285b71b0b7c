"""wrk, driven from the benchmarks: flat-out and paced runs, the server's CPU per request.

wrk is closed-loop: its p99 is the latency at full load. A paced run offers a constant rate
instead, by wrk again with a pacing script (``PACED_SCRIPT``; wrk2 is not in Debian): its
``delay()`` hook hands each connection the next send time of one fixed schedule, read from the
monotonic clock through LuaJIT's FFI, over enough connections that a free one is there when a
send is due. wrk times a request from its actual send, so a send that went out late (every
connection still waiting) would hide queueing: the script reports the 99th percentile of that
lateness beside the latencies; near zero, wrk's percentiles are the open-loop ones.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

__all__ = ["PACED_SCRIPT", "flat", "paced", "rotating_script", "tree_cpu"]

# Appended to a script that sets the request: one fixed schedule of sends at ``rate`` per
# second (wrk -t1), the lateness of each send against it, and the results as one line on stdout.
PACED_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } regca_timespec;
int clock_gettime(int clock, regca_timespec *tp);
]]
local ts = ffi.new("regca_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  interval = 1000 / tonumber(args[1])
  next_at = nil
  lateness = {}
end

function delay()  -- milliseconds until this connection's next send (wrk rounds down)
  local now = now_ms()
  next_at = next_at or now
  local due = next_at
  next_at = next_at + interval
  lateness[#lateness + 1] = math.max(0, now - due)
  return math.max(0, due - now)
end

function done(summary, latency, requests)
  local late = {}
  for _, thread in ipairs(threads) do
    for _, v in ipairs(thread:get("lateness")) do late[#late + 1] = v end
  end
  table.sort(late)
  local lag99 = #late > 0 and late[math.min(#late, math.floor(#late * 0.99) + 1)] or 0
  local s = summary.errors
  io.write(string.format(
    "PACED rps=%f p50_ms=%f p99_ms=%f lag_p99_ms=%f errors=%d non2xx=%d\\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, lag99, s.connect + s.read + s.write + s.timeout,
    s.status))
end
"""


def rotating_script(requests: list[tuple[str, str, bytes]]) -> str:
    """A wrk script sending ``(method, path, body)`` requests in turn (each connection walks
    the list from its own place); ``PACED_SCRIPT`` may be appended."""
    def lua_bytes(data: bytes) -> str:
        return '"' + "".join(f"\\{b:03d}" for b in data) + '"'

    items = ",\n".join(
        f"{{{lua_bytes(m.encode())}, {lua_bytes(p.encode())}, {lua_bytes(b)}}}"
        for m, p, b in requests)
    return (f"local requests = {{\n{items}\n}}\n"
            "local at = math.random(#requests)\n"
            "function request()\n"
            "  at = at % #requests + 1\n"
            "  local r = requests[at]\n"
            "  local headers = {}\n"
            "  if #r[3] > 0 then headers[\"Content-Type\"] = \"application/ocsp-request\" end\n"
            "  return wrk.format(r[1], r[2], headers, #r[3] > 0 and r[3] or nil)\n"
            "end\n")


def flat(url: str, script: Path, connections: int, seconds: float,
         env: dict | None = None) -> dict:
    """As fast as ``connections`` keep-alive connections go: rate, p50/p99, non-2xx."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency",
                          "-s", str(script), url], env=env, capture_output=True, text=True,
                         check=True, timeout=seconds + 60).stdout
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    return {"rps": rps(out), "p50": latency_ms(out, "50%"), "p99": latency_ms(out, "99%"),
            "requests": completed(out), "errors": int(errors.group(1)) if errors else 0,
            "socket_errors": sum(map(int, failed.groups())) if failed else 0, "output": out}


def paced(url: str, script: Path, rate: float, connections: int, seconds: float,
          env: dict | None = None) -> dict:
    """``url`` offered a constant ``rate`` by ``script`` (which ends with ``PACED_SCRIPT``):
    achieved rate, p50/p99, send lag and wrk's own CPU per request."""
    cpu_before = os.times()
    # Ahead of the server where the system allows (root): sends leave on their schedule
    # instead of waiting for a core the server holds (bench/loadgen.py does the same).
    ahead = ["nice", "-n", "-10"] if os.geteuid() == 0 else []
    out = subprocess.run([*ahead, "wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "-s",
                          str(script), url, "--", f"{rate:.1f}"], env=env,
                         capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    cpu_after = os.times()
    fields = dict(kv.split("=") for kv in re.search(r"^PACED (.*)$", out, re.M).group(1).split())
    figures = {k: float(v) for k, v in fields.items()}
    cpu = (cpu_after.children_user + cpu_after.children_system
           - cpu_before.children_user - cpu_before.children_system)
    figures["offered"] = rate
    figures["client_cpu_us"] = cpu / max(1.0, figures["rps"] * int(seconds)) * 1e6
    return figures


def tree_cpu(pid: int) -> float:
    """CPU seconds (user and system) used so far by ``pid`` and every process below it: the
    server's CPU per request, whatever else the host runs (Linux /proc)."""
    parents, used = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
        child = int(text.split(" ", 1)[0])
        parents[child] = int(fields[1])
        used[child] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += used.get(current, 0.0)
        todo += [c for c, parent in parents.items() if parent == current]
    return total


def completed(wrk_output: str) -> int:
    return int(re.search(r"(\d+) requests in", wrk_output).group(1))


def latency_ms(text: str, label: str) -> float:
    m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def rps(wrk_output: str) -> float:
    return float(re.search(r"Requests/sec:\s+([\d.]+)", wrk_output).group(1))
