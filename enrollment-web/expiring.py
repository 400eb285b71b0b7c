"""The "expiring soon" list of an officer's JST (auditors: every JST), and the address where an
officer receives the expiry digests the jobs process sends (ra/expiry_notices.py)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Optional

from ca.config import load_settings
from ca.errors import InvalidSubject
from enrollment_web.auth import current_actor, require
from enrollment_web.forms import at_most, mark_first_error
from enrollment_web.i18n import t
from enrollment_web.once import current_key, once, remember, result
from enrollment_web.services import authority, store
from ra import expiry_notices as notices
from ra.paging import PAGE_SIZE, Page, page_number

__all__ = ["bp"]

bp = Blueprint("expiring", __name__)


class AddressForm(FlaskForm):
    email = StringField("email", validators=[Optional(), at_most(254)])


def _window() -> int:
    return max(load_settings(current_app.config["WEB_SETTINGS"].home).expiry_notice_days)


def _page(form=None, error=None, status=200):
    actor = current_actor()
    now = store().now()
    # a bulk-enrolled JST's staff all expire together: the list is paged, never cut
    rows = notices.expiring_soon(store(), actor.orgs, _window())
    number = min(page_number(request.args.get("page")), max(1, -(-len(rows) // PAGE_SIZE)))
    page = Page(rows[(number - 1) * PAGE_SIZE:number * PAGE_SIZE], len(rows), number)
    if form is None and actor.role == "officer":
        form = AddressForm(formdata=None, email=notices.notice_address(store(), actor.name))
    elif form is not None:
        mark_first_error(form)
    done = result(request.args.get("done")) or {}
    return render_template("expiring.html", page=page, now=now, window=_window(), form=form,
                           error=error, local=notices.local, success=done.get("message")), status


@bp.route("/expiring")
@require("officer", "auditor")
def expiring():
    return _page()


@bp.route("/expiring/address", methods=["POST"])
@require("officer")
@once
def address():
    form = AddressForm()
    if not form.validate_on_submit():
        return _page(form, t("Popraw adres e-mail.", "Correct the e-mail address."), 400)
    actor = current_actor()
    try:
        notices.set_notice_address(authority(), actor.name, (form.email.data or "").strip()
                                   or None, actor.audit_name)
    except InvalidSubject:
        form.email.errors = [t("To nie jest poprawny adres e-mail.",
                               "This is not a valid e-mail address.")]
        return _page(form, t("Popraw adres e-mail.", "Correct the e-mail address."), 400)
    remember(message=t("Zapisano adres powiadomień.", "The notice address was saved.")
             if form.email.data and form.email.data.strip() else
             t("Powiadomienia e-mail wyłączone.", "E-mail notices are off."))
    return redirect(url_for("expiring.expiring", done=current_key()), 303)
