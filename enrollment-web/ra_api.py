"""The RA API: issue from a CSR, read a certificate's status, revoke (CONTRACT.md, "RA requests").

Same validation, audit trail and errors as the command line: every decision is the core's.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask, Response, jsonify, request

from ca.context import CaContext
from ca.errors import Malformed
from ca.issuance import IssuanceRequest, Issuer
from edge.json_body import json_object
from edge.problems import install_problems
from ra import certificates
from ra.access import REVOKE, Caller, find_certificate
from ra.apikeys import Principal, authenticate, require_scope
from ra.certificates import CertificateView

__all__ = ["create_ra_api"]

_MAX_BODY = 256 * 1024


def _pem(cert) -> str:
    return cert.public_bytes(Encoding.PEM).decode()


def _json_body() -> dict:
    return json_object(request)


def _status_body(c: CertificateView) -> dict:
    """CONTRACT.md, "RA requests": the status is ``ca.status``'s decision."""
    return {"serial": c.serial, "status": c.status.state, "revocation_reason": c.status.reason,
            "profile": c.profile, "not_before": c.not_before.isoformat(),
            "not_after": c.not_after.isoformat(), "certificate": c.pem()}


def create_ra_api(ctx: CaContext) -> Flask:
    app = Flask("regca-ra-api")
    app.config["MAX_CONTENT_LENGTH"] = _MAX_BODY
    install_problems(app)
    issuer = Issuer(ctx)

    def principal() -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return authenticate(ctx, token if scheme.lower() == "bearer" else None)

    def caller(p: Principal) -> Caller:
        return Caller.api_key(p)

    @app.post("/api/v1/certificates")
    def issue():
        p = principal()
        require_scope(p, "issue")
        body = _json_body()
        for field in ("profile", "csr", "subject"):
            if field not in body:
                raise Malformed(f"{field}: required")
        if not isinstance(body["csr"], str) or not isinstance(body["profile"], str):
            raise Malformed("profile and csr must be strings")
        issued = issuer.issue(IssuanceRequest(
            profile=body["profile"], csr=body["csr"], subject=body["subject"], actor=p.actor,
            scope_teryt=p.organization_teryt))
        return jsonify({"serial": issued.serial, "certificate": _pem(issued.certificate),
                        "chain": [_pem(c) for c in issued.chain]}), 201

    @app.get("/api/v1/certificates/<serial>")
    def show(serial: str):
        found = certificates.show(ctx, caller(principal()), serial)
        if request.accept_mimetypes.best == "application/pkix-cert":
            return Response(found.der, mimetype="application/pkix-cert")
        return jsonify(_status_body(found))

    @app.post("/api/v1/certificates/<serial>/revoke")
    def revoke(serial: str):
        who = caller(principal())
        find_certificate(ctx, who, serial, REVOKE)  # refused before the body is read
        reason = _json_body().get("reason")
        if not isinstance(reason, str):
            raise Malformed("reason: required (an RFC 5280 reason name)")
        return jsonify(_status_body(certificates.revoke(ctx, who, serial, reason)))

    return app
