"""Verification latency of RegCA's verifiers next to pyHanko's own validation of the same files.

    .venv/bin/python bench/verify.py [--seconds 4]

Builds a throw-away demo home and serves it over real HTTP in a thread (the seal of a B-LT
document fetches OCSP from that server, as in service), then makes through the API:
(a) a PAdES B-LT document (100 KB PDF), (b) the same document sealed again at B-LT, an
incremental update (two signatures, two revisions), (c) the sample e-form sealed at XAdES B-T.
It times, one call after another in one process:
- ``PadesVerifier(trust, fetching=False).verify(data)`` and ``XadesVerifier(...)`` (the product's
  verifiers, whatever their insides), and ``POST /api/v1/verify`` through the Flask test client
  (adds auth, HTTP parsing and the JSON report);
- the peers, pyHanko alone on the same bytes with a context trusting the same root and no
  fetching: ``validate_pdf_signature`` with the DSS's validation data, and the EN 319 102-1 LTA
  process ``ades_lta_validation``, for every signature in the file; for XML, signxml's
  ``XAdESVerifier`` plus pyhanko-certvalidator's path validation and the time-stamp check.
Medians and ratios go to bench/results/verify.md. Goal (issue 12): within 1.2x of pyHanko for
PDFs, B-LT median under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import logging
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
from asn1crypto import cms  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402
from documents import pdf_of_size, serve_in_thread  # noqa: E402  (bench/, the script's own folder)
from lxml import etree  # noqa: E402
from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402
from pyhanko.sign.validation import validate_pdf_signature  # noqa: E402
from pyhanko.sign.validation.ades import ades_lta_validation  # noqa: E402
from pyhanko.sign.validation.dss import DocumentSecurityStore  # noqa: E402
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data  # noqa: E402
from pyhanko.sign.validation.policy_decl import (  # noqa: E402
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import CertificateValidator, ValidationContext  # noqa: E402
from pyhanko_certvalidator.context import CertValidationPolicySpec  # noqa: E402
from pyhanko_certvalidator.policy_decl import (  # noqa: E402
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager  # noqa: E402
from signxml.xades import XAdESVerifier  # noqa: E402

from ca.context import CaContext  # noqa: E402
from ra.apikeys import create_api_key  # noqa: E402
from regca.bootstrap import InitOptions, initialise  # noqa: E402
from regca.roles import signing_app as create_app  # noqa: E402
from regca.roles import trust_store  # noqa: E402
from regca.wsgi import create_app as compose  # noqa: E402
from signing.seal import to_asn1  # noqa: E402
from signing.verify_pdf import PadesVerifier  # noqa: E402
from signing.verify_xml import XadesVerifier  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "samples"
SAMPLE_XML = SAMPLES / "wniosek-zaswiadczenie.xml"
DS, XADES = "http://www.w3.org/2000/09/xmldsig#", "http://uri.etsi.org/01903/v1.3.2#"


def timed(fn, seconds: float, at_least: int = 20) -> tuple[float, int]:
    """(median latency in ms, count), one call after another, after one warm-up call."""
    fn()
    lat, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(lat) < at_least:
        t = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t)
    return statistics.median(lat) * 1000, len(lat)


def live_home(tmp: Path):
    """A demo home whose public URL is a server in this process (OCSP, CRL, TSA over HTTP)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    initialise(InitOptions(tmp / "home", public_url=base, demo=True))
    ctx = CaContext.open(tmp / "home")
    if "/tsa" not in {p for p, _ in compose(ctx.settings.home, ctx).routes}:
        with open(ctx.settings.config_file, "a") as f:
            f.write('\n[signing]\ntimestamper = "in-process"\n')

    server = serve_in_thread(compose(ctx.settings.home, ctx), port)
    return ctx, base, server


def make_documents(ctx: CaContext, base: str, pdf: bytes, form: bytes) -> dict[str, bytes]:
    key = create_api_key(ctx, "bench-verify", ["sign"], None)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"

    def sign(path: str, body: bytes, ctype: str) -> bytes:
        resp = session.post(base + path, data=body, headers={"Content-Type": ctype}, timeout=60)
        assert resp.status_code == 200, resp.text
        return resp.content

    lt = sign("/api/v1/sign/pdf?level=B-LT", pdf, "application/pdf")
    return {"lt": lt, "lt2": sign("/api/v1/sign/pdf?level=B-LT", lt, "application/pdf"),
            "xml": sign("/api/v1/sign/xml?level=B-T", form, "application/xml")}


# -- the peers: pyHanko (and signxml) alone ------------------------------------------------------

def pyhanko_ltv(roots, data: bytes) -> None:
    """pyHanko's ``validate_pdf_signature`` of every signature with a context built from the
    file's DSS (its long-term validation data), hard-fail revocation, no fetching."""
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    for sig in reader.embedded_regular_signatures:
        vc = DocumentSecurityStore.read_dss(reader).as_validation_context(
            {"trust_roots": roots, "allow_fetching": False, "revocation_mode": "hard-fail"})
        status = validate_pdf_signature(sig, vc, vc)
        assert status.bottom_line, status.pretty_print_details()


def ades_spec(roots) -> PdfSignatureValidationSpec:
    """EN 319 102-1 validation trusting ``roots``, revocation data from the file only."""
    rule = RevocationCheckingRule.CHECK_IF_DECLARED
    return PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(roots),
            revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(rule, rule))),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY)))


def pyhanko_ades_lta(spec, data: bytes) -> list[str]:
    """pyHanko's EN 319 102-1 LTA process for every signature; their AdES statuses."""
    sigs = PdfFileReader(io.BytesIO(data), strict=False).embedded_regular_signatures

    async def run():
        return [await ades_lta_validation(sig, pdf_validation_spec=spec) for sig in sigs]
    return [str(r.ades_subindic) for r in asyncio.run(run())]


def xades_peer(roots, intermediates, data: bytes) -> None:
    """signxml checks references and signature value, pyhanko-certvalidator the signer's path,
    pyHanko the signature time-stamp's token and imprint (EN 319 132-1 §5.3)."""
    root = etree.fromstring(data)
    signature = root.find(f".//{{{DS}}}Signature")
    der = base64.b64decode("".join(signature.findtext(f".//{{{DS}}}X509Certificate").split()))
    signer = x509.load_der_x509_certificate(der)
    XAdESVerifier().verify(data, x509_cert=signer.public_bytes(Encoding.PEM).decode())
    value = etree.tostring(signature.find(f"{{{DS}}}SignatureValue"), method="c14n")
    vc = ValidationContext(trust_roots=roots, other_certs=intermediates, allow_fetching=False)
    for node in signature.iter(f"{{{XADES}}}EncapsulatedTimeStamp"):
        token = cms.ContentInfo.load(base64.b64decode("".join(node.text.split())))
        asyncio.run(validate_tst_signed_data(
            token["content"], ValidationContext(trust_roots=roots, other_certs=intermediates,
                                               allow_fetching=False),
            lambda algo: hashlib.new(algo, value).digest()))
    asyncio.run(CertificateValidator(to_asn1(signer), validation_context=vc)
                .async_validate_usage({"non_repudiation"}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--out", default=str(REPO / "bench/results/verify.md"))
    args = ap.parse_args()

    logging.disable(logging.ERROR)  # pyHanko logs each INDETERMINATE path with its traceback
    tmp = Path(tempfile.mkdtemp(prefix="regca-bench-verify-"))
    ctx, base, server = live_home(tmp)
    docs = make_documents(ctx, base, pdf_of_size(100 * 1024), SAMPLE_XML.read_bytes())
    server.shutdown()  # from here on nothing may fetch: verification works from the files alone

    trust = trust_store(ctx)
    pades, xades = PadesVerifier(trust, False), XadesVerifier(trust, False)
    app = create_app(ctx, fetch_revocation=False).test_client()
    key = create_api_key(ctx, "bench-verify-api", ["verify"], None)

    def api(data: bytes, ctype: str):
        resp = app.post("/api/v1/verify", data=data,
                        headers={"Authorization": f"Bearer {key}", "Content-Type": ctype})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()

    roots = [to_asn1(c) for c in trust.anchors]
    intermediates = [to_asn1(ctx.certificate_of("issuing-ca"))]
    spec = ades_spec(roots)
    verdicts = []  # what each side says about each file, before timing it
    for name, data in docs.items():
        ctype = "application/xml" if name == "xml" else "application/pdf"
        ours = [s["indication"] for s in api(data, ctype)["signatures"]]
        if name == "xml":
            xades_peer(roots, intermediates, data)
            verdicts.append(f"{name}: RegCA {ours}; signxml + certvalidator accept it")
        else:
            pyhanko_ltv(roots, data)
            verdicts.append(f"{name}: RegCA {ours}; pyHanko validate_pdf_signature passes; "
                            f"pyHanko ades_lta_validation {pyhanko_ades_lta(spec, data)}")
        print(verdicts[-1])

    groups = [
        ("PAdES B-LT, 100 KB, one signature", docs["lt"], "pdf"),
        ("PAdES B-LT, two signatures (two revisions)", docs["lt2"], "pdf"),
        ("XAdES B-T, e-form (enveloped)", docs["xml"], "xml"),
    ]
    results = []
    for label, data, kind in groups:
        if kind == "pdf":
            rows = [("PadesVerifier.verify", lambda d=data: pades.verify(d)),
                    ("POST /api/v1/verify (test client)",
                     lambda d=data: api(d, "application/pdf")),
                    ("pyHanko validate_pdf_signature + DSS", lambda d=data: pyhanko_ltv(roots, d)),
                    ("pyHanko ades_lta_validation", lambda d=data: pyhanko_ades_lta(spec, d))]
        else:
            rows = [("XadesVerifier.verify", lambda d=data: xades.verify(d)),
                    ("POST /api/v1/verify (test client)",
                     lambda d=data: api(d, "application/xml")),
                    ("signxml + certvalidator + pyHanko TST",
                     lambda d=data: xades_peer(roots, intermediates, d))]
        measured = []
        for name, fn in rows:
            median, n = timed(fn, args.seconds)
            measured.append((name, median, n))
            print(f"{label:45} {name:38} median {median:8.2f} ms  (n={n})", flush=True)
        results.append((label, len(data), measured))

    lines = [
        "# Verification benchmark",
        "",
        f"`.venv/bin/python bench/verify.py --seconds {args.seconds:g}` on {platform.machine()}, "
        f"Python {platform.python_version()}, one process, one call at a time (2 cores shared "
        "with other jobs). Documents sealed through the API by a demo home served over HTTP "
        "(OCSP fetched by the B-LT seal); the server is stopped before timing, so every "
        "verification works from the file alone. RegCA's verifiers run with fetching off; the "
        "peers trust the same root and fetch nothing. Ratio: RegCA median over the peer's "
        "(pyHanko's validate_pdf_signature from the DSS for PDFs, the library path for XML).",
        "",
        "| document | bytes | path | median ms | n | vs peer |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for label, size, measured in results:
        peer = measured[2][1]
        for i, (name, median, n) in enumerate(measured):
            ratio = "peer" if i == 2 else f"{median / peer:.2f}x"
            lines.append(f"| {label} | {size} | {name} | {median:.2f} | {n} | {ratio} |")
    lt_median = results[0][2][0][1]
    lines += ["", f"B-LT goal: median under 100 ms - PadesVerifier {lt_median:.1f} ms "
              f"({'met' if lt_median < 100 else 'not met'}); within 1.2x of pyHanko - "
              + ", ".join(f"{r[0]}: {r[2][0][1] / r[2][2][1]:.2f}x" for r in results[:2]) + ".",
              "", "Verdicts on the timed files:", ""] + [f"- {v}" for v in verdicts]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
