"""The auditor's view: the event log with filters, a certificate's history, CSV export and the
audit chain check. Read-only: no view here accepts a POST."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from flask import Blueprint, Response, abort, current_app, render_template, request

from ca.audit import Event
from ca.serials import parse_serial
from ca.store import certificates as cert_store
from ca.store import enrolments as store
from ca.store.audit import verify_chain
from enrollment_web.auth import current_actor, require
from enrollment_web.forms import AuditFilterForm

__all__ = ["bp"]

bp = Blueprint("auditor", __name__)


def _ctx():
    return current_app.config["REGCA_CTX"]


def _filtered(form: AuditFilterForm):
    """The events matching the form; the profile filter goes through the certificates."""
    ctx = _ctx()
    since = (dt.datetime.combine(form.since.data, dt.time(), dt.timezone.utc)
             if form.since.data else None)
    until = (dt.datetime.combine(form.until.data, dt.time(), dt.timezone.utc)
             + dt.timedelta(days=1) if form.until.data else None)
    with ctx.db.reading() as s:
        serials = None
        if form.profile.data:
            serials = store.serials_of_profile(s, form.profile.data)
        officer = (form.officer.data or "").strip()
        return store.search_events(
            s, teryt=(form.teryt.data or "").strip() or None,
            actor=(f"user:{officer}" if officer and ":" not in officer else officer) or None,
            action=(form.action.data or "").strip() or None, since=since, until=until,
            serials=serials)


def _form() -> AuditFilterForm:
    form = AuditFilterForm(request.args)
    form.profile.choices = [("", "-")] + [(p.name, p.name) for p in _ctx().profiles
                                          if p.subject in ("resident", "staff")]
    return form


def _audited_export(count: int) -> None:
    with _ctx().db.transaction() as s:
        _ctx().audit(s, Event(actor=current_actor().audit_name, action="audit.export",
                              object="audit:csv", details={"rows": count,
                                                           "filters": dict(request.args)}))


@bp.route("/audit")
@require("auditor")
def events():
    form = _form()
    rows = _filtered(form) if form.validate() else []
    with _ctx().db.reading() as s:
        count, problems = verify_chain(s)
    return render_template("audit.html", form=form, rows=rows, chain_count=count,
                           chain_problems=problems), (400 if form.errors else 200)


@bp.route("/audit.csv")
@require("auditor")
def export():
    form = _form()
    if not form.validate():
        abort(400)
    rows = _filtered(form)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["seq", "at", "actor", "action", "object", "outcome", "organization_teryt",
                "details", "hash"])
    for r in rows:
        w.writerow([r.seq, r.at.isoformat(), r.actor, r.action, r.object, r.outcome,
                    r.organization_teryt or "", r.details, r.hash])
    _audited_export(len(rows))
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="regca-audit.csv"'})


@bp.route("/audit/certificates/<serial>")
@require("auditor")
def certificate(serial: str):
    try:
        serial = parse_serial(serial)
    except ValueError:
        abort(404)
    with _ctx().db.reading() as s:
        row = cert_store.get(s, serial)
        if row is None:
            abort(404)
        history = store.search_events(s, serials=[serial])
        e = store.enrolment_of_certificate(s, serial)
    return render_template("certificate.html", row=row, history=history, e=e,
                           details=lambda r: json.loads(r.details))
