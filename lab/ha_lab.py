"""The HA lab: the production topology of README "Running it in production", on one machine.

    HAProxy (health-checks /healthz) -> node1, node2 (`regca serve`, each with its jobs process
    contending for the jobs lease) -> PostgreSQL primary + streaming standby (synchronous)

Everything listens on 127.0.0.1 on ports of its own and lives in one scratch directory
(default var/ha-lab). The nodes share the database (one URL naming both servers: libpq tries
them in turn and keeps the one that takes writes) and the SoftHSM2 token directory, which
stands in for a network HSM. PostgreSQL runs from Debian's binaries
(/usr/lib/postgresql/*/bin) as the current user, or as the `postgres` account when that is
root (the server refuses to run as root).

    python -m lab.ha_lab start|status|stop [--dir DIR] [--base-port N]
    python -m lab.ha_lab kill node1|node2     # the machine lost (SIGKILL to all its processes)
    python -m lab.ha_lab restart node1|node2
    python -m lab.ha_lab failover             # the primary lost, the standby promoted
    python -m lab.ha_lab rejoin               # the old primary back as the new one's standby

The drills (tests/test_ha_lab.py) drive the same class: kill a node, stop the primary and
promote the standby, bring the old primary back as a standby.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.pg_pair import DATABASE, SERVERS, PgPair, pg_bin

__all__ = ["HaLab", "Ports", "missing_binaries"]

REPO = Path(__file__).resolve().parent.parent
NODES = ("node1", "node2")


def missing_binaries() -> list[str]:
    """What the lab needs and this machine lacks (Debian: `postgresql`, `haproxy`)."""
    missing = [n for n in ("initdb", "pg_ctl", "pg_basebackup", "pg_rewind") if not pg_bin(n)]
    if not shutil.which("haproxy"):
        missing.append("haproxy")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        missing.append("runuser")
    return missing


@dataclass(frozen=True)
class Ports:
    front: int
    stats: int
    node1: int
    node2: int
    pg1: int
    pg2: int

    @classmethod
    def from_base(cls, base: int) -> Ports:
        return cls(*(base + i for i in range(6)))


class HaLab:
    def __init__(self, root: Path, ports: Ports, workers: int = 2,
                 jobs_interval: float | None = None):
        self.root, self.ports, self.workers = root.resolve(), ports, workers
        self.jobs_interval = jobs_interval
        self.state_file = self.root / "lab.json"
        self.pg = PgPair(self.root, {s: getattr(ports, s) for s in SERVERS})
        self.pids: dict[str, int] = {}

    # -- the scratch directory's record of what runs -----------------------------------------

    @classmethod
    def load(cls, root: Path) -> HaLab:
        state = json.loads((root / "lab.json").read_text())
        lab = cls(root, Ports(**state["ports"]), state["workers"], state.get("jobs_interval"))
        lab.pids = state["pids"]
        return lab

    def _save(self) -> None:
        self.state_file.write_text(json.dumps({
            "ports": asdict(self.ports), "workers": self.workers,
            "jobs_interval": self.jobs_interval, "pids": self.pids}, indent=1))

    @property
    def front(self) -> str:
        return f"http://127.0.0.1:{self.ports.front}"

    def node_url(self, node: str) -> str:
        return f"http://127.0.0.1:{getattr(self.ports, node)}"

    def home(self, node: str) -> Path:
        return self.root / node

    @property
    def database_url(self) -> str:
        """Both servers; libpq connects to the first that accepts writes
        (target_session_attrs), so a pool re-opening after a failover finds the new primary."""
        hosts = "&".join(f"host=127.0.0.1:{getattr(self.ports, s)}" for s in SERVERS)
        return (f"postgresql+psycopg://postgres@/{DATABASE}?{hosts}"
                "&target_session_attrs=read-write&connect_timeout=2")

    # -- RegCA nodes -------------------------------------------------------------------------

    def _init_homes(self) -> None:
        """node1's home made by `regca init --demo` on the cluster; node2's a copy of its
        configuration and PIN files. The token directory moves out of both homes and both name
        it: one HSM, two clients."""
        from regca.bootstrap import InitOptions, initialise  # the lab's own process only
        first = self.home("node1")
        report = initialise(InitOptions(first, public_url=self.front, demo=True,
                                        database_url=self.database_url))
        tokens = self.root / "hsm-tokens"
        shutil.move(first / "hsm" / "tokens", tokens)
        second = self.home("node2")
        shutil.copytree(first, second, ignore=shutil.ignore_patterns(
            "crl", "cache", "logs", "run", "regca.db*"))
        (second / "logs").mkdir()
        from ca.config import write_softhsm_conf
        for node in NODES:
            write_softhsm_conf(self.home(node) / "hsm" / "softhsm2.conf", tokens)
        (self.root / "root-pin.txt").write_text(f"{report.root_pin}\n")
        os.chmod(self.root / "root-pin.txt", 0o600)

    def _regca(self) -> str:
        return str(Path(sys.executable).with_name("regca"))

    def _env(self, node: str) -> dict:
        env = dict(os.environ, REGCA_NODE_NAME=node, REGCA_DATABASE_URL=self.database_url)
        if self.jobs_interval is not None:
            env["REGCA_REVOCATION_JOBS_INTERVAL"] = str(self.jobs_interval)
        return env

    def create_api_key(self, scopes: str = "issue,revoke") -> str:
        done = subprocess.run([self._regca(), "--home", str(self.home("node1")), "apikey",
                               "create", "--name", "ha-lab", "--scopes", scopes],
                              capture_output=True, text=True, env=self._env("node1"),
                              timeout=120, check=True)
        return done.stdout.split()[-1] if done.stdout.strip() else ""

    def start_node(self, node: str, wait: bool = True) -> None:
        log = open(self.root / f"{node}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            [self._regca(), "--home", str(self.home(node)), "serve", "--bind",
             f"127.0.0.1:{getattr(self.ports, node)}", "--workers", str(self.workers)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self._env(node),
            start_new_session=True)
        log.close()
        self.pids[node] = proc.pid
        self._save()
        if wait:
            self.wait_healthy(node)

    def wait_healthy(self, node: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(self.pids.get(node)):
                raise RuntimeError(f"{node} exited; see {self.root / node}.log")
            if _status(self.node_url(node) + "/healthz") == 200:
                return
            time.sleep(0.3)
        raise RuntimeError(f"{node} not healthy within {timeout:.0f} s")

    def kill_node(self, node: str, sig: int = signal.SIGKILL) -> None:
        """SIGKILL: the machine lost (server, workers and jobs process at once)."""
        pid = self.pids.pop(node, None)
        self._save()
        if pid and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
            _reap(pid, 15)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                _reap(pid, 5)

    # -- HAProxy -----------------------------------------------------------------------------

    def _proxy_config(self) -> str:
        servers = "\n".join(f"    server {n} 127.0.0.1:{getattr(self.ports, n)} check"
                            for n in NODES)
        return f"""# The HA lab's front (lab/ha_lab.py).
global
    maxconn 1024

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    # A node that refuses the connection (down, not yet seen by the health check): the request
    # goes to the other node. One that dies holding a request: OCSP and TSA requests are sent
    # again, any other never (an issuance, say, may have been committed).
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend regca
    bind 127.0.0.1:{self.ports.front}
    default_backend nodes

backend nodes
    balance roundrobin
    http-request disable-l7-retry unless {{ path_beg /ocsp }} || {{ path_beg /tsa }}
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 500ms fastinter 250ms downinter 1s fall 2 rise 2
{servers}

listen stats
    bind 127.0.0.1:{self.ports.stats}
    stats enable
    stats uri /
    stats refresh 2s
"""

    def start_proxy(self) -> None:
        config = self.root / "haproxy.cfg"
        config.write_text(self._proxy_config())
        log = open(self.root / "haproxy.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.pids["haproxy"] = proc.pid
        self._save()

    def backends(self) -> dict[str, str]:
        """Each node's state as HAProxy's health check sees it (UP, DOWN...)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports.stats}/;csv",
                                    timeout=5) as resp:
            lines = resp.read().decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]
        return {r["svname"]: r["status"] for r in rows if r.get("pxname") == "nodes"
                and r["svname"] in NODES}

    # -- the whole lab -----------------------------------------------------------------------

    def running(self) -> bool:
        return any(_alive(pid) for pid in self.pids.values()) or any(
            self.pg.running(s) for s in SERVERS)

    def start(self) -> None:
        """A fresh lab: the scratch directory is made anew."""
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        os.chmod(self.root, 0o755)  # the postgres account reaches its data directories
        self._save()
        self.pg.init_primary("pg1")
        self.pg.base_backup("pg2", "pg1")
        self.pg.require_sync("pg1", "pg2")
        self._init_homes()
        (self.root / "api-key").write_text(self.create_api_key() + "\n")
        os.chmod(self.root / "api-key", 0o600)
        self.start_node("node1")  # first: its jobs process takes the lease
        self.start_node("node2")
        self.start_proxy()
        self.wait_front()

    def wait_front(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                if set(self.backends().values()) == {"UP"}:
                    return
            time.sleep(0.3)
        raise RuntimeError("HAProxy does not see both nodes up")

    def stop(self) -> None:
        for name in (*NODES, "haproxy"):
            if name in NODES:
                self.kill_node(name, signal.SIGTERM)
            else:
                pid = self.pids.pop(name, None)
                if pid and _alive(pid):
                    os.killpg(pid, signal.SIGTERM)
                    _reap(pid, 10)
        for server in SERVERS:
            if self.pg.running(server):
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    self.pg.stop(server, "fast")
        self._save()

    def report(self) -> str:
        lines = [f"RegCA HA lab in {self.root}",
                 f"  {self.front:28} HAProxy: every service (OCSP, TSA, CRLs, RA API, web)",
                 f"  http://127.0.0.1:{self.ports.stats}/{'':6} HAProxy statistics"]
        states = {}
        with contextlib.suppress(OSError, ValueError):
            states = self.backends()
        for node in NODES:
            alive = "running" if _alive(self.pids.get(node)) else "stopped"
            lines.append(f"  {self.node_url(node):28} {node} ({alive}; HAProxy: "
                         f"{states.get(node, '?')}; home {self.home(node)})")
        primary = self.pg.primary()
        for server in SERVERS:
            role = ("primary" if server == primary else "standby") if self.pg.running(
                server) else "stopped"
            lines.append(f"  postgresql://127.0.0.1:{getattr(self.ports, server)}/{DATABASE:9}"
                         f" {server} ({role})")
        if primary:
            with contextlib.suppress(Exception):
                for name, (state, sync) in self.pg.replication(primary).items():
                    lines.append(f"    {primary} -> {name}: {state}, {sync}")
            with contextlib.suppress(Exception):
                held = self.pg.sql(primary, "SELECT holder, expires_at FROM job_leases "
                                         "WHERE name = 'jobs'", DATABASE)
                if held:
                    lines.append(f"  jobs lease: {held[0][0]} until {held[0][1]:%H:%M:%S}")
        lines.append(f"  database URL: {self.database_url}")
        lines.append(f"  RA API key (scopes issue, revoke): {self.root / 'api-key'}")
        return "\n".join(lines)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it if it has ended
        if done:
            return False
    except ChildProcessError:
        pass  # started by another invocation of the lab
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _reap(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.ha_lab", description=__doc__.split(
        "\n")[0])
    parser.add_argument("action", choices=("start", "status", "stop", "kill", "restart",
                                           "failover", "rejoin"))
    parser.add_argument("node", nargs="?", choices=NODES, help="for kill and restart")
    parser.add_argument("--dir", type=Path, default=REPO / "var" / "ha-lab")
    parser.add_argument("--base-port", type=int, default=18480,
                        help="HAProxy on it, its statistics on +1, the nodes on +2 and +3, "
                             "PostgreSQL on +4 and +5 (default 18480)")
    args = parser.parse_args(argv)
    if args.action == "start":
        missing = missing_binaries()
        if missing:
            print(f"the HA lab needs {', '.join(missing)} (Debian packages postgresql and "
                  "haproxy: `make ha-lab` installs them)", file=sys.stderr)
            return 1
        if (args.dir / "lab.json").exists() and HaLab.load(args.dir).running():
            print(f"already running (`make ha-lab-stop` first)\n{HaLab.load(args.dir).report()}")
            return 0
        lab = HaLab(args.dir, Ports.from_base(args.base_port))
        try:
            lab.start()
        except Exception as exc:
            print(f"the HA lab did not start: {exc}", file=sys.stderr)
            lab.stop()
            return 1
        print(lab.report())
        return 0
    if not (args.dir / "lab.json").exists():
        print(f"no HA lab in {args.dir}")
        return 0 if args.action == "stop" else 1
    lab = HaLab.load(args.dir)
    try:
        _drill(lab, args.action, args.node)
    except (RuntimeError, ValueError) as exc:
        print(f"{args.action}: {exc}", file=sys.stderr)
        return 1
    if args.action == "stop":
        print(f"HA lab stopped (its files stay in {args.dir})")
    else:
        print(lab.report())
    return 0


def _drill(lab: HaLab, action: str, node: str | None) -> None:
    """One step of a drill by hand; the tests run the same steps."""
    if action in ("kill", "restart") and node is None:
        raise ValueError("which node? (node1 or node2)")
    primary = lab.pg.primary()
    standby = next((s for s in SERVERS if s != primary), None)
    if action == "stop":
        lab.stop()
    elif action == "kill":
        lab.kill_node(node)
    elif action == "restart":
        lab.kill_node(node, signal.SIGTERM)
        lab.start_node(node)
    elif action == "failover":
        if primary is None:
            raise RuntimeError("no primary is running")
        lab.pg.stop(primary, "immediate")
        lab.pg.promote(standby)
    elif action == "rejoin":
        if primary is None or lab.pg.running(standby):
            raise RuntimeError("rejoin brings back a stopped server after a failover")
        how = lab.pg.rejoin_as_standby(standby, primary)
        print(f"{standby} back as a standby of {primary} ({how})")


if __name__ == "__main__":
    sys.exit(main())
