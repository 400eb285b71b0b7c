"""Sealed fields (TOTP secrets, PESELs): where AES-GCM runs, measured.

    .venv/bin/python bench/field_crypto.py [--n 5000] [--out FILE]

Builds a throw-away demo home (SQLite, SoftHSM2) and times, per value, the two designs the
choice in ca/field_crypto.py was between:
- in process: ``FieldCipher.seal`` / ``open`` with the data key unwrapped once (what RegCA does);
- in the HSM: C_Encrypt / C_Decrypt with CKM_AES_GCM under an AES-256 key in the same token
  (a session key made here: the home's key-encryption key only wraps), through the same
  module lock every signature takes;
and, once, the unwrap of the data key (C_UnwrapKey, CKM_AES_KEY_WRAP_PAD), the cost a worker
pays on its first sealed value. Medians of five rounds; writes bench/results/field_crypto.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))  # before bench/, whose ocsp.py and tsa.py would shadow the packages

from conftest import make_home  # noqa: E402
from pkcs11 import KeyType, Mechanism, MechanismFlag  # noqa: E402
from pkcs11.mechanisms import GCMParams  # noqa: E402

from ca.field_crypto import KEK_ROLE, FieldCipher, totp_secret_of  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "field_crypto.md"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # a TOTP secret's length (160 bits, base32)


def _per_value(fn, n: int) -> float:
    """Microseconds per call, median of five rounds of ``n``."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    ctx = make_home(Path(tempfile.mkdtemp(prefix="regca-bench-")) / "home")
    place = totp_secret_of("bench")

    # In process: the data key unwrapped once per process.
    cipher = ctx.fields
    sealed = cipher.seal(SECRET, place)
    seal_us = _per_value(lambda: cipher.seal(SECRET, place), args.n)
    open_us = _per_value(lambda: cipher.open(sealed, place), args.n)
    unwraps = []
    for _ in range(20):
        fresh = FieldCipher.of(ctx.db, ctx.hsm, ctx.settings.hsm.keys)
        start = time.perf_counter()
        fresh.open(sealed, place)
        unwraps.append((time.perf_counter() - start) * 1e3)

    # In the HSM: one C_Encrypt / C_Decrypt per value.
    hsm = ctx.hsm.only(KEK_ROLE)
    token = ctx.settings.hsm.key(KEK_ROLE).token
    key = hsm.with_session(token, lambda s: s.generate_key(
        KeyType.AES, 256, store=False,
        capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT))
    aad = place.aad(1)

    def hsm_encrypt(nonce=None):
        nonce = nonce or os.urandom(12)
        return nonce, hsm.with_session(token, lambda s: key.encrypt(
            SECRET.encode(), mechanism=Mechanism.AES_GCM,
            mechanism_param=GCMParams(nonce, aad, 128)))

    nonce, ciphertext = hsm_encrypt()
    hsm_seal_us = _per_value(hsm_encrypt, args.n)
    hsm_open_us = _per_value(lambda: hsm.with_session(token, lambda s: key.decrypt(
        ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad, 128))),
        args.n)

    lines = [
        "# Sealed fields: AES-GCM in process or in the HSM",
        "",
        f"`python bench/field_crypto.py --n {args.n}` on SoftHSM2, one process; µs per value "
        "(median of five rounds).",
        "",
        "| | seal (encrypt) | open (decrypt) |",
        "|---|---|---|",
        f"| in process, data key unwrapped once (RegCA) | {seal_us:.1f} | {open_us:.1f} |",
        f"| in the HSM, CKM_AES_GCM per value | {hsm_seal_us:.1f} | {hsm_open_us:.1f} |",
        "",
        f"First value of a process (unwraps the data key): {statistics.median(unwraps):.2f} ms "
        "median of 20.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    ctx.db.dispose()


if __name__ == "__main__":
    main()
