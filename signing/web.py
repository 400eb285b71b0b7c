"""The signing and verification API as a Flask app (CONTRACT.md, "Signing and verification").

Views only parse, call a sealer or verifier, and render; errors become the contract's JSON problem
in the one /api/v1 mapper (edge/problems.py), which the RA API installs too.
"""

from __future__ import annotations

import json
from importlib import resources

from flask import Flask, Response, request

from ca.context import CaContext
from ca.errors import Malformed, PayloadTooLarge
from edge.problems import install_problems
from ra.apikeys import Principal, authenticate, require_scope
from signing.cades import CadesSealer
from signing.config import SigningConfig
from signing.errors import BadDocument
from signing.etsi_report import etsi_report
from signing.options import CmsOptions, PdfOptions, XmlOptions
from signing.pades import PadesSealer
from signing.seal import SealRegistry
from signing.timestamping import http_timestamper, in_process_timestamper
from signing.trust import TrustStore
from signing.verify_cms import CadesVerifier
from signing.verify_pdf import PadesVerifier
from signing.verify_xml import XadesVerifier
from signing.xades import XadesSealer

__all__ = ["create_app", "load_openapi"]

_XML_TYPES = ("application/xml", "text/xml")
_REPORT_TYPES = ("application/json", "application/xml")  # the first is the default


def load_openapi() -> dict:
    return json.loads(resources.files("signing").joinpath("openapi.json").read_text())


def _is_xml(data: bytes) -> bool:
    return data.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


def _default_timestamper(ctx: CaContext, config: SigningConfig):
    if config.timestamper == "in-process":
        return in_process_timestamper(ctx)
    return http_timestamper(config.tsa_url or ctx.urls.tsa)


def create_app(ctx: CaContext, config: SigningConfig | None = None, timestamper=None,
               fetch_revocation: bool = True) -> Flask:
    """``timestamper``: any pyHanko TimeStamper; default per ``[signing] timestamper``."""
    ctx.check_keys(("seal",))  # a seal certificate for another key is refused at start-up
    config = config or SigningConfig.load(ctx)
    timestamper = timestamper or _default_timestamper(ctx, config)
    trust = TrustStore(ctx, config.trust_anchors, config.fetching)
    seals = SealRegistry(ctx)
    pades, xades, cades = (PadesSealer(trust, timestamper),
                           XadesSealer(ctx.clock, timestamper, config.xades_policy),
                           CadesSealer(ctx.clock, timestamper))
    verifiers = {"pdf": PadesVerifier(trust, fetch_revocation),
                 "xml": XadesVerifier(trust, fetch_revocation),
                 "cms": CadesVerifier(trust, fetch_revocation)}
    openapi = load_openapi()

    app = Flask("signing")
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = config.max_body_bytes
    install_problems(app)

    def caller(scope: str) -> Principal:
        header = request.headers.get("Authorization", "")
        bearer = header[7:] if header[:7].lower() == "bearer " else None
        principal = authenticate(ctx, bearer)
        require_scope(principal, scope)
        return principal

    def body(expected: tuple[str, ...] | None = None) -> bytes:
        if request.content_length is not None and request.content_length > config.max_body_bytes:
            raise PayloadTooLarge(f"the body is over the {config.max_body_bytes}-byte limit")
        if expected and request.mimetype not in expected:
            raise BadDocument(f"Content-Type must be {' or '.join(expected)}, "
                              f"not {request.mimetype or 'missing'}")
        return request.get_data(cache=False)

    def document(data: bytes, mimetype: str, name: str, seal) -> Response:
        # Say which seal was used: a JST-bound key falls back to the region's (signing/seal.py).
        used = (f"region (no seal provisioned for JST {seal.requested_teryt})" if seal.fallback
                else "region")
        return Response(data, 200, mimetype=mimetype,
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "RegCA-Seal": used})

    @app.post("/api/v1/sign/pdf")
    def sign_pdf():
        principal = caller("sign")
        options = PdfOptions.from_query(request.args, "B-T")
        data = body(("application/pdf",))
        seal = seals.for_principal(principal)
        return document(pades.seal(data, seal, options), "application/pdf", "signed.pdf", seal)

    @app.post("/api/v1/sign/xml")
    def sign_xml():
        principal = caller("sign")
        options = XmlOptions.from_query(request.args, "B-T")
        seal = seals.for_principal(principal)
        signed = xades.seal(body(_XML_TYPES), seal, options)
        return document(signed, "application/xml", "signed.xml", seal)

    @app.post("/api/v1/sign/cms")
    def sign_cms():
        principal = caller("sign")
        options = CmsOptions.from_query(request.args, "B-T")
        data = body()
        if options.digest is not None and data:
            raise Malformed("digest: send an empty body with ?digest=, or the bytes without it")
        seal = seals.for_principal(principal)
        signature = cades.seal(data, seal, options)
        return document(signature, "application/pkcs7-signature", "signature.p7s", seal)

    @app.post("/api/v1/verify")
    def verify():
        caller("verify")
        if request.mimetype == "multipart/form-data":
            signature, content = request.files.get("signature"), request.files.get("content")
            if signature is None or content is None:
                raise Malformed("multipart: parts 'signature' and 'content' are both required")
            signed = signature.read()
            if _is_xml(signed):  # a detached XAdES: the part's filename is the URI it names
                report = verifiers["xml"].verify(signed, {content.filename or "": content.read()})
            else:
                report = verifiers["cms"].verify(signed, content.read())
        elif request.mimetype == "application/pdf":
            report = verifiers["pdf"].verify(body())
        elif request.mimetype in _XML_TYPES:
            report = verifiers["xml"].verify(body())
        else:
            raise BadDocument("send application/pdf, application/xml, or multipart/form-data "
                              "with 'signature' and 'content' parts")
        if request.accept_mimetypes.best_match(_REPORT_TYPES) == "application/xml":
            return Response(etsi_report(report, ctx.now()), 200, mimetype="application/xml")
        return Response(json.dumps(report.to_json(), ensure_ascii=False), 200,
                        mimetype="application/json")

    @app.get("/api/v1/openapi.json")
    def openapi_json():
        return Response(json.dumps(openapi, ensure_ascii=False), 200, mimetype="application/json")

    return app
