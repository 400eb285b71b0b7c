"""Resident self-service: a one-time pickup code opens a session bound to that resident's own
enrolment; nothing here searches people by name or PESEL (issue 6, privacy)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from ca.audit import Event
from ca.errors import RegCAError, Unauthorized
from ca.store import enrolments as store
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import form_status
from enrollment_web.forms import PickupForm, ResidentRevokeForm
from enrollment_web.i18n import t
from ra import enrolment as enrol

__all__ = ["bp"]

bp = Blueprint("resident", __name__)
_FORMATS = {"pem": "application/x-pem-file", "der": "application/pkix-cert",
            "p7b": "application/pkcs7-mime"}


def _ctx():
    return current_app.config["REGCA_CTX"]


@bp.route("/pickup", methods=["GET", "POST"])
def pickup():
    form = PickupForm()
    if form.validate_on_submit():
        if not current_app.config["PICKUP_LIMITER"].allow(request.remote_addr or "?"):
            abort(429)
        try:
            enrolment_id = enrol.redeem_pickup(_ctx(), form.code.data)
        except RegCAError:
            return render_template("pickup.html", form=form, error=t(
                "Kod odbioru jest nieprawidłowy albo został już użyty. Nowy kod wyda urzędnik.",
                "The pickup code is not valid or was already used. An officer can give you a "
                "new one.")), 401
        lang = session.get("lang")
        session.clear()
        session.update(lang=lang, resident_enrolment=enrolment_id)
        session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME
        return redirect(url_for("resident.mine"))
    return render_template("pickup.html", form=form, error=None), (
        400 if form.is_submitted() else 200)


def _own(serial: str):
    """The resident's own certificate row, or 404 (never 403: that would confirm it exists)."""
    actor = current_actor()
    with _ctx().db.reading() as s:
        certs = {c.serial: c for c in store.certificates_of(s, actor.enrolment)}
    row = certs.get(serial.lower())
    if row is None or row.der is None:
        abort(404)
    return row


@bp.route("/my")
@require("resident")
def mine(status: int = 200, **extra):
    actor = current_actor()
    e = enrol.visible(_ctx(), actor.enrolment, None)
    with _ctx().db.reading() as s:
        certs = [c for c in store.certificates_of(s, e.id) if c.der is not None]
    return render_template("resident.html", e=e, certs=certs, now=_ctx().now(),
                           revoke_form=ResidentRevokeForm(formdata=None), **extra), status


@bp.route("/my/certificates/<serial>.<fmt>")
@require("resident")
def download(serial: str, fmt: str):
    if fmt not in _FORMATS:
        abort(404)
    row = _own(serial)
    cert = x509.load_der_x509_certificate(row.der)
    if fmt == "pem":
        body = cert.public_bytes(Encoding.PEM)
    elif fmt == "der":
        body = row.der
    else:  # RFC 2315 degenerate SignedData: the certificate and its chain, no signers
        body = pkcs7.serialize_certificates([cert, *_ctx().chain()], Encoding.DER)
    actor = current_actor()
    with _ctx().db.transaction() as s:
        _ctx().audit(s, Event(actor=actor.audit_name, action="certificate.download",
                              object=f"certificate:{row.serial}",
                              organization_teryt=row.organization_teryt,
                              details={"format": fmt}))
    ext = {"pem": "crt", "der": "cer", "p7b": "p7b"}[fmt]
    return Response(body, mimetype=_FORMATS[fmt], headers={
        "Content-Disposition": f'attachment; filename="{row.serial}.{ext}"'})


@bp.route("/my/certificates/<serial>/revoke", methods=["POST"])
@require("resident")
def revoke(serial: str):
    row = _own(serial)
    form = ResidentRevokeForm()
    if not form.validate_on_submit():
        return mine(400, revoke_error=t("Podaj hasło do unieważnienia.",
                                        "Give the revocation password."))
    try:
        enrol.resident_revoke(_ctx(), current_actor().enrolment, row.serial, form.password.data)
    except RegCAError as exc:
        status = form_status(exc)
        message = (t("Nieprawidłowe hasło do unieważnienia.", "Wrong revocation password.")
                   if isinstance(exc, Unauthorized) else exc.message)
        return mine(status, revoke_error=message)
    return redirect(url_for("resident.mine"))


@bp.route("/my/logout", methods=["POST"])
def leave():
    session.pop("resident_enrolment", None)
    return redirect(url_for("public.index"))
