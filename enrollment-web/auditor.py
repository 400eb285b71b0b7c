"""The auditor's view: the event log with filters, a certificate's history, CSV export and the
audit chain check. Read-only: no view here accepts a POST."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, render_template, request

from ca.errors import Malformed
from ca.serials import parse_serial
from ca.usage import Month, to_csv, usage_report
from enrollment_web.auth import current_actor, require
from enrollment_web.forms import AuditFilterForm
from enrollment_web.services import authority, store
from ra import audit_log

__all__ = ["bp"]

bp = Blueprint("auditor", __name__)



def _query(form: AuditFilterForm) -> audit_log.AuditQuery:
    return audit_log.AuditQuery(teryt=form.teryt.data, officer=form.officer.data,
                                action=form.action.data, profile=form.profile.data or None,
                                since=form.since.data, until=form.until.data,
                                pesel=form.pesel.data)


def _form() -> AuditFilterForm:
    form = AuditFilterForm(request.args)
    form.profile.choices = [("", "-")] + [(p.name, p.name) for p in store().profiles
                                          if p.subject in ("resident", "staff")]
    return form


@bp.route("/audit")
@require("auditor")
def events():
    form = _form()
    rows = audit_log.search(store(), _query(form)) if form.validate() else []
    count, problems = audit_log.check_chain(store())
    return render_template("audit.html", form=form, rows=rows, chain_count=count,
                           chain_problems=problems, sth=audit_log.latest_tree_head(store())
                           ), (400 if form.errors else 200)


@bp.route("/audit/sth.json")
@require("auditor")
def tree_head():
    sth = audit_log.latest_tree_head(store())
    if sth is None:
        abort(404)
    return Response(json.dumps(sth.to_json(), indent=1), mimetype="application/json",
                    headers={"Content-Disposition":
                             f'attachment; filename="regca-sth-{sth.tree_size}.json"'})


@bp.route("/audit.csv")
@require("auditor")
def export():
    form = _form()
    if not form.validate():
        abort(400)
    body = audit_log.export_csv(authority(), current_actor().audit_name, _query(form),
                                dict(request.args))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="regca-audit.csv"'})


@bp.route("/audit/certificates/<serial>")
@require("auditor")
def certificate(serial: str):
    try:
        serial = parse_serial(serial)
    except ValueError:
        abort(404)
    h = audit_log.certificate_history(store(), current_actor().caller, serial)
    return render_template("certificate.html", row=h.certificate, history=h.events,
                           e=h.enrolment)


def _month() -> tuple[Month | None, str | None]:
    """The month picked (``?month=YYYY-MM``, an ``<input type="month">``), default this one."""
    text = request.args.get("month")
    if not text:
        return Month.of(store().now()), None
    try:
        return Month.parse(text), None
    except Malformed as exc:
        return None, exc.message


@bp.route("/audit/usage")
@require("auditor")
def usage():
    """The same table as ``regca report usage``, for a month picked on the page."""
    month, error = _month()
    report = usage_report(store(), month) if month else None
    return render_template("usage.html", report=report, month=month,
                           error=error), (400 if error else 200)


@bp.route("/audit/usage.csv")
@require("auditor")
def usage_csv():
    month, error = _month()
    if error:
        abort(400)
    return Response(to_csv(usage_report(store(), month)).encode("utf-8"),
                    mimetype="text/csv", headers={
                        "Content-Disposition": f'attachment; filename="regca-usage-{month}.csv"'})
