"""Token personalisations per second (key on the token, CSR signed by it, issued in-process,
certificate and chain written back), with the subscriber's token in the CA's own SoftHSM2 store
and in a store of its own (where every personalisation switches the one loaded library between
the two configurations twice).

    .venv/bin/python bench/token_enroll.py [--count 30]

Writes a table to bench/results/token_enroll.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
# the repository before bench/, whose ocsp.py and tsa.py would shadow the packages
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import RESIDENT, make_home  # noqa: E402

from ca.config import write_softhsm_conf  # noqa: E402
from ra.personalisation import LocalCa, PersonalisationRequest, personalise  # noqa: E402
from ra.token import TokenRef  # noqa: E402
from regca.roles import issuing_ca  # noqa: E402

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
RESULTS = Path(__file__).parent / "results" / "token_enroll.md"


def _tokens(conf: Path, count: int, prefix: str) -> list[str]:
    labels = [f"{prefix}{i}" for i in range(count)]
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    for label in labels:
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label,
                        "--so-pin", "12345678", "--pin", "1234"], env=env, check=True,
                       capture_output=True)
    return labels


def _run(ctx, conf: Path, labels: list[str], profiles: tuple[str, ...]) -> float:
    ca = LocalCa(issuing_ca(ctx), "bench")
    start = time.perf_counter()
    for label in labels:
        personalise(PersonalisationRequest(TokenRef(MODULE, label, str(conf)), "1234",
                                           profiles, RESIDENT), ca)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=30)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_home(Path(tmp) / "home")
        home_conf = ctx.settings.hsm.softhsm_conf
        own_conf = Path(tmp) / "station.conf"
        write_softhsm_conf(own_conf, Path(tmp) / "station")
        for profiles in (("resident-signing",), ("resident-signing", "resident-authentication")):
            for where, conf in (("CA's own store", home_conf), ("store of its own", own_conf)):
                labels = _tokens(conf, args.count, f"{where[:3]}{len(profiles)}-")
                seconds = _run(ctx, conf, labels, profiles)
                rows.append((where, len(profiles), args.count, seconds))
        ctx.db.dispose()
    lines = ["# Token personalisation (SoftHSM2 2.6, EC P-256, SQLite, one process)", "",
             f"`.venv/bin/python bench/token_enroll.py --count {args.count}`", "",
             "| token store | certificates per token | tokens | seconds | tokens/s | ms/token |",
             "|---|---|---|---|---|---|"]
    for where, n, count, seconds in rows:
        lines.append(f"| {where} | {n} | {count} | {seconds:.2f} | {count / seconds:.1f} | "
                     f"{1000 * seconds / count:.0f} |")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
