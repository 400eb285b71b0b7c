"""Run one fuzz target under atheris (libFuzzer): ``python tests/fuzz/run.py TARGET [SECONDS]``.

Seeds go into a fresh corpus directory; a crash (an exception the entry point does not promise)
stops the run with a non-zero exit and leaves the input as ``crash-*`` in ``--artifacts``
(default: the current directory), to become a regression test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["ca", "ocsp", "tsa", "signing", "edge", "asn1crypto"]):
    from harnesses import TARGETS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("target", choices=sorted(TARGETS))
    ap.add_argument("seconds", type=int, nargs="?", default=60)
    ap.add_argument("--artifacts", default=".", help="where a crashing input is written")
    args = ap.parse_args()
    target = TARGETS[args.target]
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{args.target}-"))
    for n, seed in enumerate(target.seeds()):
        (corpus / f"seed-{n}").write_bytes(seed)
    target.one_input(target.seeds()[0])  # the setup (keys, verifiers) before the clock runs
    libfuzzer = [sys.argv[0], f"-max_total_time={args.seconds}", "-rss_limit_mb=3072",
                 "-timeout=30", f"-artifact_prefix={Path(args.artifacts).resolve()}/",
                 "-print_final_stats=1", str(corpus)]
    atheris.Setup(libfuzzer, target.one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
