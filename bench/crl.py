"""CRL benchmark: a complete CRL of ``--certs`` certificates with ``--revoked`` revoked, and a
delta CRL, made by RegCA (store read + cryptography's builder + HSM signature) next to
`openssl ca -gencrl` over the same entries (index.txt, file key: the peer only).

    .venv/bin/python bench/crl.py [--certs 1000000] [--revoked 100000] [--delta 1000]

Results go to bench/results/crl.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ca.context import CaContext  # noqa: E402
from ca.crl import CrlPublisher  # noqa: E402
from ca.store import crl as crl_store  # noqa: E402
from regca.bootstrap import InitOptions, initialise  # noqa: E402

sys.path.append(str(ROOT / "bench"))
from seed import revoke, seed  # noqa: E402  (bench/seed.py)

REASONS = ["keyCompromise", "superseded", "affiliationChanged", "cessationOfOperation",
           "unspecified"]  # the reasons `openssl ca` knows too

OPENSSL_CONF = """\
[ca]
default_ca = CA_default
[CA_default]
dir = {dir}
database = $dir/index.txt
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_crl_days = 2
crl_extensions = crl_ext
unique_subject = no
[crl_ext]
authorityKeyIdentifier = keyid:always
"""


def load(ctx: CaContext, certs: int, revoked: int) -> list[tuple]:
    revoked_idx = set(secrets.SystemRandom().sample(range(certs), revoked))
    entries = []
    for i in range(certs):
        serial = format(secrets.randbits(126) | 1 << 125, "x")
        reason = REASONS[i % len(REASONS)] if i in revoked_idx else None
        entries.append((serial, reason))
    seed(ctx, entries)
    return entries


def revoke_more(ctx: CaContext, serials: list[str]) -> None:
    """Bulk revocations after the complete CRL, recorded as changes for the delta."""
    revoke(ctx, [(serial, "superseded") for serial in serials])


def openssl_peer(tmp: Path, entries: list[tuple], extra_revoked: set[str]) -> tuple[float, int]:
    """`openssl ca -gencrl` over the same entries; seconds and DER size."""
    peer = tmp / "peer"
    peer.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openssl peer CA")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (peer / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (peer / "ca.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (peer / "crlnumber").write_text("01\n")
    expiry = (now + dt.timedelta(days=365)).strftime("%y%m%d%H%M%SZ")
    revoked_at = now.strftime("%y%m%d%H%M%SZ")
    with (peer / "index.txt").open("w") as f:
        for i, (serial, reason) in enumerate(entries):
            hexs = serial.upper()
            hexs = ("0" + hexs) if len(hexs) % 2 else hexs
            if serial in extra_revoked:
                reason = "superseded"
            if reason:
                tail = "" if reason == "unspecified" else f",{reason}"
                f.write(f"R\t{expiry}\t{revoked_at}{tail}\t{hexs}\tunknown\t/CN=bench {i}\n")
            else:
                f.write(f"V\t{expiry}\t\t{hexs}\tunknown\t/CN=bench {i}\n")
    (peer / "openssl.cnf").write_text(OPENSSL_CONF.format(dir=peer))
    start = time.perf_counter()
    done = subprocess.run(["openssl", "ca", "-gencrl", "-config", str(peer / "openssl.cnf"),
                           "-out", str(peer / "crl.pem")], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"openssl ca -gencrl failed: {done.stderr}")
    seconds = time.perf_counter() - start
    der = subprocess.run(["openssl", "crl", "-in", str(peer / "crl.pem"), "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return seconds, len(der)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--certs", type=int, default=1_000_000)
    p.add_argument("--revoked", type=int, default=100_000)
    p.add_argument("--delta", type=int, default=1000, help="revocations after the full CRL")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "crl.md")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="regca-bench-crl-") as tmpdir:
        tmp = Path(tmpdir)
        initialise(InitOptions(tmp / "home", public_url="http://127.0.0.1:8080"))
        ctx = CaContext.open(tmp / "home")
        t = time.perf_counter()
        entries = load(ctx, args.certs, args.revoked)
        print(f"store loaded with {args.certs} rows: {time.perf_counter() - t:.1f} s",
              flush=True)
        publisher = CrlPublisher(ctx)
        publisher.publish("issuing")  # warm-up: HSM log-in, first CRL number
        t = time.perf_counter()
        with ctx.db.reading() as s:
            n = len(crl_store.revoked_entries(s, "issuing"))
        read = time.perf_counter() - t
        t = time.perf_counter()
        full = publisher.publish_one("issuing", delta=False)
        full_s = time.perf_counter() - t
        print(f"complete CRL: {full.entries} entries, {full.size} bytes, {full_s:.2f} s "
              f"(store read alone {read:.2f} s for {n} rows)", flush=True)
        more = [s for s, r in entries if r is None][:args.delta]
        revoke_more(ctx, more)
        t = time.perf_counter()
        delta = publisher.publish_one("issuing", delta=True)
        delta_s = time.perf_counter() - t
        print(f"delta CRL: {delta.entries} entries, {delta.size} bytes, {delta_s:.3f} s",
              flush=True)
        peer_s, peer_size = openssl_peer(tmp, entries, set())
        print(f"openssl ca -gencrl: {peer_s:.2f} s, {peer_size} bytes", flush=True)
    rows = [
        "# CRL benchmark",
        "",
        f"`.venv/bin/python bench/crl.py --certs {args.certs} --revoked {args.revoked} "
        f"--delta {args.delta}`, {os.cpu_count()} cores (shared), SQLite store, EC P-256 "
        "issuing key in SoftHSM2 for RegCA, a file key for openssl.",
        "",
        "RegCA's time covers reading the revoked rows from the store, building every entry, "
        "handing the whole list to cryptography's `CertificateRevocationListBuilder` at once, "
        "the HSM signature and the atomic file write. openssl reads the same entries from an "
        f"index.txt of {args.certs} lines.",
        "",
        "| what | entries | time s | size bytes |",
        "|---|---:|---:|---:|",
        f"| RegCA complete CRL | {full.entries} | {full_s:.2f} | {full.size} |",
        f"| (the store read alone, measured separately) | {n} | {read:.2f} | |",
        f"| RegCA delta CRL ({args.delta} revocations after the complete one) | "
        f"{delta.entries} | {delta_s:.3f} | {delta.size} |",
        f"| `openssl ca -gencrl` complete CRL | {args.revoked} | {peer_s:.2f} | {peer_size} |",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(rows) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
