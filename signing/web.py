"""The signing and verification API as a Flask app (CONTRACT.md, "Signing and verification").

Views only parse, call a sealer or verifier, and render; errors become the contract's JSON problem
in the one /api/v1 mapper (edge/problems.py), which the RA API installs too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from flask import Flask, Response, request
from pyhanko.sign.timestamps import TimeStamper
from werkzeug.exceptions import RequestEntityTooLarge

from ca.clock import Clock
from ca.errors import Malformed, PayloadTooLarge, RegCAError
from ca.quotas import QuotaGuard
from ca.seal_journal import SealAttempt, SealJournal
from edge.problems import install_problems
from edge.wsgi import API_KEY_ENVIRON, BodyTooLarge, read_body
from ra.apikeys import ApiKeys, Principal, require_scope
from signing.cades import CadesSealer
from signing.config import SigningConfig
from signing.errors import BadDocument
from signing.etsi_report import etsi_report
from signing.options import CmsOptions, PdfOptions, XmlOptions
from signing.pades import PadesSealer
from signing.seal import Sealed, SealIdentity, SealRegistry
from signing.trust import TrustStore
from signing.verify_cms import CadesVerifier
from signing.verify_pdf import PadesVerifier
from signing.verify_xml import XadesVerifier
from signing.xades import XadesSealer

__all__ = ["SigningServices", "create_app", "load_openapi"]

_XML_TYPES = ("application/xml", "text/xml")
_REPORT_TYPES = ("application/json", "application/xml")  # the first is the default
# Time-stamp tokens a seal of each level takes (B-LTA: the signature's and the document's).
_STAMPS = {"B-B": 0, "B-T": 1, "B-LT": 1, "B-LTA": 2}


class _Call:
    """What one sign call has learned so far, for its audit event (ca/seal_journal.py)."""

    def __init__(self, fmt: str, identify: Callable[[], Principal]):
        self.format, self._identify = fmt, identify
        self.principal: Principal | None = None
        self.level: str | None = None
        self.document_sha256: str | None = None
        self.seal: SealIdentity | None = None
        self.timestamp_serials: tuple[int, ...] = ()
        self.options: dict = {}

    def authenticate(self, scope: str) -> Principal:
        """The key, known before its scope is checked, so a refusal names who was refused."""
        self.principal = self._identify()
        require_scope(self.principal, scope)
        return self.principal

    def document(self, data: bytes) -> bytes:
        self.document_sha256 = hashlib.sha256(data).hexdigest()
        return data

    def use(self, seal: SealIdentity) -> SealIdentity:
        self.seal = seal
        return seal

    def attempt(self, error: RegCAError | None) -> SealAttempt:
        p, seal = self.principal, self.seal
        return SealAttempt(
            key_id=p.key_id, key_name=p.name, organization_teryt=p.organization_teryt,
            format=self.format, level=self.level, document_sha256=self.document_sha256,
            seal_serial=format(seal.certificate.serial_number, "x") if seal else None,
            seal_fallback=bool(seal and seal.fallback),
            timestamp_serials=self.timestamp_serials, options=self.options, error=error)


def _as_kind(exc: Exception) -> RegCAError:
    """The core kind an exception counts as in the seal journal."""
    if isinstance(exc, RegCAError):
        return exc
    if isinstance(exc, RequestEntityTooLarge):
        return PayloadTooLarge("the body is over the size limit")
    return RegCAError(f"internal error ({type(exc).__name__})")


def load_openapi() -> dict:
    return json.loads(resources.files("signing").joinpath("openapi.json").read_text())


def _is_xml(data: bytes) -> bool:
    return data.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


@dataclass(frozen=True)
class SigningServices:
    """Everything the signing API is given (regca/roles.py builds it): the seal keys and no
    other, a TSA client, what the verifiers trust, the API-key check, the seal journal (its
    one way to the audit log), the JST quotas, its settings, the clock."""

    config: SigningConfig
    seals: SealRegistry
    timestamper: TimeStamper  # over HTTP or the TSA core in-process (signing/timestamping.py)
    trust: TrustStore
    api_keys: ApiKeys
    journal: SealJournal
    quotas: QuotaGuard
    clock: Clock


def create_app(services: SigningServices, fetch_revocation: bool = True) -> Flask:
    config, clock, trust, seals = (services.config, services.clock, services.trust,
                                   services.seals)
    timestamper, api_keys, journal = services.timestamper, services.api_keys, services.journal
    quotas = services.quotas
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

    def identify() -> Principal:
        header = request.headers.get("Authorization", "")
        bearer = header[7:] if header[:7].lower() == "bearer " else None
        principal = api_keys.authenticate(bearer)
        request.environ[API_KEY_ENVIRON] = principal.key_id  # for the access log
        return principal

    def caller(scope: str) -> Principal:
        principal = identify()
        require_scope(principal, scope)
        return principal

    def body(expected: tuple[str, ...] | None = None) -> bytes:
        """The whole body, or PayloadTooLarge, with or without Content-Length (edge.wsgi):
        never a body cut at the limit, as Werkzeug's stream gives a chunked one."""
        try:
            # an excess up to the limit again is drained: the client reads a clean 413
            data = read_body(request.environ, config.max_body_bytes, config.max_body_bytes)
        except BodyTooLarge:
            raise PayloadTooLarge(
                f"the body is over the {config.max_body_bytes}-byte limit") from None
        if expected and request.mimetype not in expected:
            raise BadDocument(f"Content-Type must be {' or '.join(expected)}, "
                              f"not {request.mimetype or 'missing'}")
        return data

    def sealing(fmt: str, work: Callable[[_Call], Response]) -> Response:
        """Run one sign call and record it in the seal journal, sealed or not (a caller
        without a valid key is not recorded: there is nobody to name)."""
        call = _Call(fmt, identify)
        try:
            response = work(call)
        except Exception as exc:
            if call.principal is not None:
                journal.record(call.attempt(_as_kind(exc)))
            raise
        journal.record(call.attempt(None))
        return response

    def document(sealed: Sealed, call: _Call, mimetype: str, name: str) -> Response:
        call.timestamp_serials = sealed.timestamp_serials
        seal = call.seal
        # Say which seal was used (signing/seal.py): the JST's own, the region's for a key bound
        # to no JST, or the region's standing in for a JST without a seal.
        if seal.fallback:
            used = f"region (no seal provisioned for JST {seal.requested_teryt})"
        else:
            used = f"JST {seal.requested_teryt}" if seal.requested_teryt else "region"
        return Response(sealed.data, 200, mimetype=mimetype,
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "RegCA-Seal": used})

    @app.post("/api/v1/sign/pdf")
    def sign_pdf():
        def work(call: _Call) -> Response:
            principal = call.authenticate("sign")
            options = PdfOptions.from_query(request.args, "B-T")
            call.level = options.level
            data = call.document(body(("application/pdf",)))
            quotas.check(principal.organization_teryt, _STAMPS[options.level])
            seal = call.use(seals.for_principal(principal))
            return document(pades.seal(data, seal, options), call, "application/pdf",
                            "signed.pdf")
        return sealing("pdf", work)

    @app.post("/api/v1/sign/xml")
    def sign_xml():
        def work(call: _Call) -> Response:
            principal = call.authenticate("sign")
            options = XmlOptions.from_query(request.args, "B-T", request.mimetype)
            call.level, call.options = options.level, {"packaging": options.packaging}
            if options.packaging == "detached":
                call.options["reference_uri"] = options.reference_uri
            data = call.document(body(_XML_TYPES))
            quotas.check(principal.organization_teryt, _STAMPS[options.level])
            seal = call.use(seals.for_principal(principal))
            return document(xades.seal(data, seal, options), call, "application/xml",
                            "signed.xml")
        return sealing("xml", work)

    @app.post("/api/v1/sign/cms")
    def sign_cms():
        fmt = "digest" if "digest" in request.args else "cms"

        def work(call: _Call) -> Response:
            principal = call.authenticate("sign")
            options = CmsOptions.from_query(request.args, "B-T")
            call.level = options.level
            if options.digest is not None:
                call.document_sha256 = options.digest.hex()
                # bytes the server never sees: a scope of its own, in addition to sign
                require_scope(principal, "sign-digest")
            data = body()
            if options.digest is not None:
                if data:
                    raise Malformed("digest: send an empty body with ?digest=, or the bytes "
                                    "without it")
            else:
                call.document(data)
            quotas.check(principal.organization_teryt, _STAMPS[options.level])
            seal = call.use(seals.for_principal(principal))
            return document(cades.seal(data, seal, options), call,
                            "application/pkcs7-signature", "signature.p7s")
        return sealing(fmt, work)

    @app.post("/api/v1/verify")
    def verify():
        principal = caller("verify")
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
            report = verifiers["pdf"].verify(signed := body())
        elif request.mimetype in _XML_TYPES:
            report = verifiers["xml"].verify(signed := body())
        else:
            raise BadDocument("send application/pdf, application/xml, or multipart/form-data "
                              "with 'signature' and 'content' parts")
        journal.record_verification(principal.key_id, principal.name,
                                    principal.organization_teryt,
                                    hashlib.sha256(signed).hexdigest(), report.indication.value)
        if request.accept_mimetypes.best_match(_REPORT_TYPES) == "application/xml":
            return Response(etsi_report(report, clock.now()), 200, mimetype="application/xml")
        return Response(json.dumps(report.to_json(), ensure_ascii=False), 200,
                        mimetype="application/json")

    @app.get("/api/v1/openapi.json")
    def openapi_json():
        return Response(json.dumps(openapi, ensure_ascii=False), 200, mimetype="application/json")

    return app
