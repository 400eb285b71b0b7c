"""Signing API throughput and latency next to pyHanko's own ceiling with a file key.

    .venv/bin/python bench/signing.py [--seconds 4]

Builds a throw-away demo home (SoftHSM2 tokens in a temporary directory), then times, one
request after another in one process:
- the API (Flask app through its WSGI test client: auth, parsing, sealing with the HSM key) for a
  100 KB PDF at B-B and B-T, the sample XAdES e-form at B-B, and a CMS signature over a digest;
- pyHanko signing the same PDF at B-B with a P-256 key loaded from a PEM file (the peer: the
  library's ceiling, no HSM, no HTTP) - the only place a key file exists, and it is a throw-away;
- verification of the B-B PDF.
B-T timestamps come from the in-process TSA (TSA key in the HSM) unless --tsa-url is given.
Writes bench/results/signing.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from documents import pdf_of_size, serve_in_thread  # noqa: E402  (bench/, the script's own folder)
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from ca.context import CaContext
from ra.apikeys import create_api_key
from regca.bootstrap import InitOptions, initialise
from regca.roles import in_process_timestamper
from regca.roles import signing_app as create_app
from signing.timestamping import http_timestamper

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "samples"
SAMPLE_XML = SAMPLES / "wniosek-zaswiadczenie.xml"


def timed(fn, seconds: float, at_least: int = 20) -> tuple[float, float, int]:
    """(operations per second, median latency in ms, count), one call after another."""
    fn()  # warm-up: caches, HSM session, imports
    lat, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(lat) < at_least:
        t = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    return len(lat) / total, statistics.median(lat) * 1000, len(lat)


def file_key_peer(tmp: Path, issuer_ctx: CaContext):
    """pyHanko's SimpleSigner with a P-256 key read from a PEM file (the library ceiling)."""
    import datetime as dt

    from cryptography import x509
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench file key")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp / "peer.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp / "peer.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return signers.SimpleSigner.load(str(tmp / "peer.key"), str(tmp / "peer.crt"))


def long_term_rows(tmp: Path, pdf: bytes, tsa_url: str | None) -> list:
    """B-LT sealing and verification over real HTTP, when this tree mounts /ocsp and /crl: the
    seal fetches OCSP/CRL from the same server, as in service."""
    import socket

    import requests

    from regca.wsgi import create_app as compose

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    initialise(InitOptions(tmp / "live", public_url=base, demo=True))
    ctx = CaContext.open(tmp / "live")
    prefixes = {p for p, _ in compose(ctx.settings.home, ctx).routes}
    if not {"/ocsp", "/crl"} <= prefixes:
        print("B-LT rows skipped: /ocsp and /crl are not mounted in this tree")
        return []
    if "/tsa" not in prefixes and not tsa_url:
        with open(ctx.settings.config_file, "a") as f:
            f.write('\n[signing]\ntimestamper = "in-process"\n')

    serve_in_thread(compose(ctx.settings.home, ctx), port)
    key = create_api_key(ctx, "bench-lt", ["sign", "verify"], None)
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/pdf"})

    def post(path, body):
        resp = session.post(base + path, data=body)
        assert resp.status_code == 200, resp.text
        return resp.content

    signed_lt = post("/api/v1/sign/pdf?level=B-LT", pdf)
    return [("HTTP, HSM key, PAdES B-LT, 100 KB PDF",
             lambda: post("/api/v1/sign/pdf?level=B-LT", pdf)),
            ("HTTP, verify PAdES B-LT (DSS only, no fetch)",
             lambda: post("/api/v1/verify", signed_lt))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--tsa-url", help="use this RFC 3161 TSA instead of the in-process one")
    ap.add_argument("--out", default=str(REPO / "bench/results/signing.md"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="regca-bench-signing-"))
    initialise(InitOptions(tmp / "home", demo=True))
    ctx = CaContext.open(tmp / "home")
    ts = http_timestamper(args.tsa_url) if args.tsa_url else in_process_timestamper(ctx)
    app = create_app(ctx, timestamper=ts, fetch_revocation=False)
    client = app.test_client()
    key = create_api_key(ctx, "bench", ["sign", "sign-digest", "verify"], None)
    auth = {"Authorization": f"Bearer {key}"}
    pdf = pdf_of_size(100 * 1024)
    form = SAMPLE_XML.read_bytes()
    digest = hashlib.sha256(pdf).hexdigest()

    def post(path, body, ctype, **query):
        resp = client.post(path, data=body, query_string=query,
                           headers={**auth, "Content-Type": ctype})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_data()

    peer = file_key_peer(tmp, ctx)

    def peer_sign():
        w = IncrementalPdfFileWriter(io.BytesIO(pdf))
        signers.sign_pdf(w, signers.PdfSignatureMetadata(
            field_name="Peer", md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES), signer=peer)

    signed_bb = post("/api/v1/sign/pdf", pdf, "application/pdf", level="B-B")
    rows = [
        ("pyHanko, file key, PAdES B-B (library ceiling)", peer_sign),
        ("API, HSM key, PAdES B-B, 100 KB PDF",
         lambda: post("/api/v1/sign/pdf", pdf, "application/pdf", level="B-B")),
        ("API, HSM key, PAdES B-T, 100 KB PDF",
         lambda: post("/api/v1/sign/pdf", pdf, "application/pdf", level="B-T")),
        ("API, HSM key, XAdES B-B, e-form (enveloped)",
         lambda: post("/api/v1/sign/xml", form, "application/xml", level="B-B")),
        ("API, HSM key, CAdES B-B over a SHA-256 digest",
         lambda: post("/api/v1/sign/cms", b"", "application/octet-stream", level="B-B",
                      digest=f"sha256:{digest}")),
        ("API, verify PAdES B-B (no revocation fetch)",
         lambda: post("/api/v1/verify", signed_bb, "application/pdf")),
    ]
    rows += long_term_rows(tmp, pdf, args.tsa_url)
    results = []
    for label, fn in rows:
        rate, median, n = timed(fn, args.seconds)
        results.append((label, rate, median, n))
        print(f"{label:50} {rate:8.1f}/s  median {median:7.2f} ms  (n={n})", flush=True)

    ceiling = results[0][1]
    lines = [
        "# Signing API benchmark",
        "",
        f"`.venv/bin/python bench/signing.py --seconds {args.seconds:g}` on "
        f"{platform.machine()}, Python {platform.python_version()}, one process, one request "
        "at a time (2 cores shared with other jobs). Key: ECDSA P-256 in SoftHSM2 via the core's "
        "PKCS#11 key object; peer: pyHanko with the key from a PEM file. TSA: "
        + (args.tsa_url or "in-process, TSA key in the HSM") + ".",
        "",
        "| operation | ops/s | median ms | n | vs ceiling |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, rate, median, n in results:
        ratio = f"{rate / ceiling:.0%}" if "PAdES B-" in label and "verify" not in label else "-"
        lines.append(f"| {label} | {rate:.1f} | {median:.2f} | {n} | {ratio} |")
    if not any("B-LT" in r[0] for r in results):
        lines += ["", ("B-LT: not measured in this tree (needs the OCSP/CRL routes to make a B-LT "
                       "file)."), ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
