"""The RA API: issue from a CSR, read a certificate's status, revoke (CONTRACT.md, "RA requests").

Same validation, audit trail and errors as the command line: every decision is the core's.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask, Response, jsonify, request

from ca.errors import Malformed
from ca.issuance import IssuanceRequest
from ca.services import ReadOnlyStore
from edge.json_body import json_object
from edge.problems import install_problems
from edge.wsgi import API_KEY_ENVIRON
from ra import certificates
from ra.access import REVOKE, Caller, find_certificate
from ra.apikeys import ApiKeys, Principal, require_scope
from ra.authority import RegistrationAuthority
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


def create_ra_api(ra: RegistrationAuthority, store: ReadOnlyStore, api_keys: ApiKeys) -> Flask:
    """Given the registration authority (it issues and revokes through the CA), a read-only
    view of the store and the API-key check; built by regca/roles.py."""
    app = Flask("regca-ra-api")
    app.config["MAX_CONTENT_LENGTH"] = _MAX_BODY
    install_problems(app)

    def principal() -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        found = api_keys.authenticate(token if scheme.lower() == "bearer" else None)
        request.environ[API_KEY_ENVIRON] = found.key_id  # for the access log
        return found

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
        issued = certificates.issue(ra, IssuanceRequest(
            profile=body["profile"], csr=body["csr"], subject=body["subject"], actor=p.actor,
            scope_teryt=p.organization_teryt, scope_units=p.units))
        return jsonify({"serial": issued.serial, "certificate": _pem(issued.certificate),
                        "chain": [_pem(c) for c in issued.chain]}), 201

    @app.get("/api/v1/certificates/<serial>")
    def show(serial: str):
        found = certificates.show(store, caller(principal()), serial)
        if request.accept_mimetypes.best == "application/pkix-cert":
            return Response(found.der, mimetype="application/pkix-cert")
        return jsonify(_status_body(found))

    @app.get("/api/v1/certificates/<serial>/proof")
    def proof(serial: str):
        return jsonify(certificates.proof(store, caller(principal()), serial).to_json())

    @app.post("/api/v1/certificates/<serial>/revoke")
    def revoke(serial: str):
        who = caller(principal())
        find_certificate(store, who, serial, REVOKE)  # refused before the body is read
        reason = _json_body().get("reason")
        if not isinstance(reason, str):
            raise Malformed("reason: required (an RFC 5280 reason name)")
        return jsonify(_status_body(certificates.revoke(ra, who, serial, reason)))

    return app
