"""The signing and verification API as a Flask app (CONTRACT.md, "Signing and verification").

Views only parse, call a sealer or verifier, and render; errors become the contract's JSON problem
in the one /api/v1 mapper (edge/problems.py), which the RA API installs too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from flask import Flask, Response, request
from pyhanko.sign.timestamps import TimeStamper

from ca.clock import Clock
from ca.errors import Malformed, PayloadTooLarge
from edge.problems import install_problems
from ra.apikeys import ApiKeys, Principal, require_scope
from signing.cades import CadesSealer
from signing.config import SigningConfig
from signing.errors import BadDocument
from signing.etsi_report import etsi_report
from signing.options import CmsOptions, PdfOptions, XmlOptions
from signing.pades import PadesSealer
from signing.seal import SealRegistry
from signing.trust import TrustStore
from signing.verify_cms import CadesVerifier
from signing.verify_pdf import PadesVerifier
from signing.verify_xml import XadesVerifier
from signing.xades import XadesSealer

__all__ = ["SigningServices", "create_app", "load_openapi"]

_XML_TYPES = ("application/xml", "text/xml")
_REPORT_TYPES = ("application/json", "application/xml")  # the first is the default


def load_openapi() -> dict:
    return json.loads(resources.files("signing").joinpath("openapi.json").read_text())


def _is_xml(data: bytes) -> bool:
    return data.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


@dataclass(frozen=True)
class SigningServices:
    """Everything the signing API is given (regca/roles.py builds it): the seal keys and no
    other, a TSA client, what the verifiers trust, the API-key check, its settings, the clock."""

    config: SigningConfig
    seals: SealRegistry
    timestamper: TimeStamper  # over HTTP or the TSA core in-process (signing/timestamping.py)
    trust: TrustStore
    api_keys: ApiKeys
    clock: Clock


def create_app(services: SigningServices, fetch_revocation: bool = True) -> Flask:
    config, clock, trust, seals = (services.config, services.clock, services.trust,
                                   services.seals)
    timestamper, api_keys = services.timestamper, services.api_keys
    pades, xades, cades = (PadesSealer(trust, timestamper),
                           XadesSealer(clock, timestamper, config.xades_policy),
                           CadesSealer(clock, timestamper))
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
        principal = api_keys.authenticate(bearer)
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
            return Response(etsi_report(report, clock.now()), 200, mimetype="application/xml")
        return Response(json.dumps(report.to_json(), ensure_ascii=False), 200,
                        mimetype="application/json")

    @app.get("/api/v1/openapi.json")
    def openapi_json():
        return Response(json.dumps(openapi, ensure_ascii=False), 200, mimetype="application/json")

    return app
