"""The RA API: issue from a CSR, read a certificate's status, revoke (CONTRACT.md, "RA requests").

Same validation, audit trail and errors as the command line: every decision is the core's.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask, Response, jsonify, request

from ca.context import CaContext
from ca.errors import Forbidden, Malformed, NotFound
from ca.issuance import IssuanceRequest, Issuer
from ca.revocation import RevocationRequest, Revoker
from ca.serials import parse_serial
from ca.store import certificates as cert_store
from ca.store.models import Certificate
from edge.problems import install_problems
from ra.apikeys import Principal, authenticate, require_scope

__all__ = ["create_ra_api", "certificate_status"]

_MAX_BODY = 256 * 1024
_READ_SCOPES = {"issue", "revoke", "verify"}


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(Encoding.PEM).decode()


def certificate_status(row: Certificate, now) -> str:
    if row.status in ("revoked", "abandoned"):
        return "revoked"
    return "expired" if row.not_after < now else "good"


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Malformed("the body must be a JSON object (Content-Type: application/json)")
    return body


def create_ra_api(ctx: CaContext) -> Flask:
    app = Flask("regca-ra-api")
    app.config["MAX_CONTENT_LENGTH"] = _MAX_BODY
    install_problems(app)
    issuer, revoker = Issuer(ctx), Revoker(ctx)

    def principal() -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return authenticate(ctx, token if scheme.lower() == "bearer" else None)

    def visible_row(p: Principal, serial_text: str) -> Certificate:
        try:
            serial = parse_serial(serial_text)
        except ValueError as exc:
            raise Malformed(str(exc)) from None
        with ctx.db.reading() as s:
            row = cert_store.get(s, serial)
        if row is None or row.status == "pending":
            raise NotFound(f"no certificate with serial {serial}")
        if p.organization_teryt and row.organization_teryt != p.organization_teryt:
            raise Forbidden(f"certificate {serial} does not belong to JST "
                            f"{p.organization_teryt}")
        return row

    def status_body(row: Certificate) -> dict:
        return {"serial": row.serial, "status": certificate_status(row, ctx.now()),
                "revocation_reason": row.revocation_reason, "profile": row.profile,
                "not_before": row.not_before.isoformat(), "not_after": row.not_after.isoformat(),
                "certificate": _pem(x509.load_der_x509_certificate(row.der))}

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
        p = principal()
        if not p.scopes & _READ_SCOPES:
            raise Forbidden("this API key has no scope that may read certificates")
        row = visible_row(p, serial)
        if request.accept_mimetypes.best == "application/pkix-cert":
            return Response(row.der, mimetype="application/pkix-cert")
        return jsonify(status_body(row))

    @app.post("/api/v1/certificates/<serial>/revoke")
    def revoke(serial: str):
        p = principal()
        require_scope(p, "revoke")
        visible_row(p, serial)
        reason = _json_body().get("reason")
        if not isinstance(reason, str):
            raise Malformed("reason: required (an RFC 5280 reason name)")
        row = revoker.revoke(RevocationRequest(serial, reason, p.actor, p.organization_teryt))
        return jsonify(status_body(row))

    return app
