"""Start-up of the command line: wall time of `regca --help` and of one `regca issue`, each a
fresh process, as an operator's script runs them one after another.

    .venv/bin/python bench/cli.py [--runs 20] [--compare DIR] [--out FILE]

Builds a throw-away demo home (SQLite, SoftHSM2), then runs, `--runs` times and interleaved so
the host's drift falls on all alike: `regca --help`; `regca --home H issue --profile
resident-signing --csr ... --subject ...` (a fresh key's CSR each time); and, as the floor
measured alongside, the bare interpreter (`python -c pass`) and the import of SQLAlchemy Core
(which the store's write path needs; `regca issue` loads no ORM). The command is the console
script next to this interpreter, run on this checkout's code (PYTHONPATH), with its bytecode
cached as an installed wheel has it (one unmeasured run of each first). Medians, with the
fastest and slowest run, and the median CPU time (user + system) of a run, which a busy host
inflates less than the wall time; the load average before and after says how quiet the host
was. One
more `issue` under `-X importtime` shows where its import time goes, by top-level package.
``--compare`` adds another checkout's `regca --help` and `regca issue` on the same home to the
rounds (an older commit, say, exported with ``git archive``).

Writes a table to bench/results/cli.md (or ``--out``).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))  # before bench/, whose ocsp.py and tsa.py would shadow the packages

from conftest import RESIDENT, make_csr  # noqa: E402

from regca.bootstrap import InitOptions, initialise  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "cli.md"


def _regca() -> list[str]:
    """The console script installed with this interpreter, else the module."""
    script = Path(sys.executable).parent / "regca"
    return [str(script)] if script.exists() else [sys.executable, "-m", "regca.cli"]


def _env(code: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(code))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cached bytecode, as an installed wheel has
    return env


def _cpu_of_children() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``argv``, in seconds."""
    cpu, start = _cpu_of_children(), time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, cwd=env["PYTHONPATH"])
    return time.perf_counter() - start, _cpu_of_children() - cpu


def _import_shares(argv: list[str], env: dict[str, str]) -> list[tuple[str, float]]:
    """Milliseconds of import time by top-level package (each module's own time, summed), from
    one run under ``-X importtime``, largest first."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, check=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          cwd=env["PYTHONPATH"])
    shares: collections.Counter[str] = collections.Counter()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        shares[name.strip().split(".")[0]] += int(own) / 1000
    return shares.most_common()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--compare", type=Path, default=None, metavar="DIR",
                        help="also run another checkout's regca, interleaved with this one's")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    regca, env = _regca(), _env(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        initialise(InitOptions(home, demo=True))
        subject = Path(tmp) / "subject.json"
        subject.write_text(json.dumps(RESIDENT))

        def issue(i: int) -> list[str]:
            """The arguments of one `regca issue`, a fresh key's CSR each time."""
            csr = Path(tmp) / f"r{i}.csr"
            csr.write_bytes(make_csr())
            return ["--home", str(home), "issue", "--profile", "resident-signing",
                    "--csr", str(csr), "--subject", str(subject)]

        # name -> (the command for run i, its environment)
        commands = {
            "`regca --help`": (lambda i: [*regca, "--help"], env),
            "`regca issue` (resident-signing, SQLite, SoftHSM2)":
                (lambda i: [*regca, *issue(i)], env),
            "floor: `python -c pass`": (lambda i: [sys.executable, "-c", "pass"], env),
            "floor: `python -c 'import sqlalchemy'`":
                (lambda i: [sys.executable, "-c", "import sqlalchemy"], env),
        }
        if args.compare:
            other = _env(args.compare.resolve())
            commands[f"`regca --help`, {args.compare}"] = (lambda i: [*regca, "--help"], other)
            commands[f"`regca issue`, {args.compare}"] = (lambda i: [*regca, *issue(i)], other)
        for make, environment in commands.values():  # writes the bytecode caches; not measured
            _timed(make(-1), environment)
        load_before = os.getloadavg()[0]
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(args.runs):
            for name, (make, environment) in commands.items():
                wall, used = _timed(make(i), environment)
                times[name].append(wall)
                cpu[name].append(used)
        load_after = os.getloadavg()[0]
        shares = _import_shares(["-m", "regca.cli", *issue(args.runs)], env)
    compare = f" --compare {args.compare}" if args.compare else ""
    lines = ["# Command line start-up", "",
             f"`.venv/bin/python bench/cli.py --runs {args.runs}{compare}`: each command a fresh "
             f"process (`{'regca' if len(regca) == 1 else 'python -m regca.cli'}`, this "
             f"checkout's code unless named, bytecode cached), run {args.runs} times, "
             f"interleaved; {os.cpu_count()} cores, load average {load_before:.2f} before and "
             f"{load_after:.2f} after, {dt.date.today().isoformat()}. Wall time: median, and "
             f"the fastest and slowest run; CPU time (user + system), median.", "",
             "| command | median (s) | fastest | slowest | CPU (s) |",
             "|---|---:|---:|---:|---:|"]
    for name, seconds in times.items():
        lines.append(f"| {name} | {statistics.median(seconds):.3f} | {min(seconds):.3f} | "
                     f"{max(seconds):.3f} | {statistics.median(cpu[name]):.3f} |")
    total = sum(ms for _, ms in shares)
    lines += ["", f"Where one `regca issue`'s import time goes (`-X importtime`, which slows "
              f"imports down; {total:.0f} ms in all), by top-level package: each module's own "
              f"time, with what runs as it is imported (building the store's Core tables "
              f"counts to `ca`; `asyncio` and `email` are loaded by SQLAlchemy and "
              f"cryptography):", "",
              "| package | ms | share |", "|---|---:|---:|"]
    lines += [f"| {name} | {ms:.0f} | {ms / total:.0%} |" for name, ms in shares[:10]]
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
