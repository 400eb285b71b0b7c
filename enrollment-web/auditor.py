"""The auditor's view: the event log with filters (event kinds picked from a list by their
Polish names), pages of results, a certificate's history, CSV (for Polish Excel) and JSON
export, and the audit chain check; times in Polish local time. Read-only: no view here accepts
a POST."""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, Response, abort, render_template, request

from ca.errors import InvalidSubject, Malformed
from ca.serials import parse_serial
from ca.usage import Month, to_csv, usage_report
from enrollment_web.auth import current_actor, require
from enrollment_web.forms import AuditFilterForm, add_error, mark_first_error
from enrollment_web.i18n import gettext, t
from enrollment_web.messages import explain
from enrollment_web.names import EVENTS, profile_name
from enrollment_web.services import authority, store
from ra import audit_log
from ra.paging import Page, page_number

__all__ = ["bp"]

bp = Blueprint("auditor", __name__)



def _query(form: AuditFilterForm) -> audit_log.AuditQuery:
    return audit_log.AuditQuery(teryt=form.teryt.data, officer=form.officer.data,
                                action=form.action.data, profile=form.profile.data or None,
                                since=form.since.data, until=form.until.data,
                                pesel=form.pesel.data)


def _form() -> AuditFilterForm:
    form = AuditFilterForm(request.args)
    form.profile.choices = [("", t("wszystkie", "all"))] + [
        (p.name, profile_name(p)) for p in store().profiles if p.subject in ("resident", "staff")]
    form.action.choices = [("", t("wszystkie", "all"))] + sorted(
        ((code, gettext(name)) for code, name in EVENTS.items()), key=lambda c: c[1])
    return form


def _filters() -> dict[str, str]:
    """The filters as given, for the export's audit event and the export links."""
    return {k: v for k, v in request.args.items() if k != "page" and v}


@bp.route("/audit")
@require("auditor")
def events():
    form = _form()
    page = Page([], 0, 1)
    if form.validate():
        try:
            page = audit_log.search(store(), _query(form), page_number(request.args.get("page")))
        except InvalidSubject as exc:
            add_error(form, "pesel", explain(exc)[1])
    mark_first_error(form)
    count, problems = audit_log.check_chain(store())
    sth = audit_log.latest_tree_head(store())
    sth_time = (dt.datetime.fromtimestamp(sth.timestamp_ms / 1000, dt.timezone.utc)
                if sth else None)
    return render_template("audit.html", form=form, page=page, chain_count=count,
                           chain_problems=problems, sth=sth, sth_time=sth_time,
                           filters=_filters()), (400 if form.errors or any(
                               f.errors for f in form) else 200)


@bp.route("/audit/sth.json")
@require("auditor")
def tree_head():
    sth = audit_log.latest_tree_head(store())
    if sth is None:
        abort(404)
    return Response(json.dumps(sth.to_json(), indent=1), mimetype="application/json",
                    headers={"Content-Disposition":
                             f'attachment; filename="regca-sth-{sth.tree_size}.json"'})


def _export(kind: str):
    form = _form()
    if not form.validate():
        abort(400)
    export = audit_log.export_csv if kind == "csv" else audit_log.export_json
    try:
        body = export(authority(), current_actor().audit_name, _query(form), _filters())
    except InvalidSubject:
        abort(400)
    media = "text/csv; charset=utf-8" if kind == "csv" else "application/json"
    return Response(body, content_type=media, headers={
        "Content-Disposition": f'attachment; filename="regca-audit.{kind}"'})


@bp.route("/audit.csv")
@require("auditor")
def export():
    """Every matching event (never cut), for Polish Excel: UTF-8 BOM and semicolons."""
    return _export("csv")


@bp.route("/audit.json")
@require("auditor")
def export_json():
    return _export("json")


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
        return None, explain(exc)[1]


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
