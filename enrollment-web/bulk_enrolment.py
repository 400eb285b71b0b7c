"""Bulk staff enrolment pages: upload a CSV, read the dry run's report row by row, confirm.

The file goes back with the confirmation (base64, with the SHA-256 the dry run showed) rather
than into the session: nothing of it is kept on the server between the two requests. The
confirmation is POST-redirect-GET through ``once`` (a double click shows the first import's
result); confirming the file again is harmless all the same: every row is already enrolled and
nothing is added.
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

from ca.errors import RegCAError
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import form_status
from enrollment_web.forms import mark_first_error
from enrollment_web.i18n import lt, t
from enrollment_web.once import current_key, once, remember, result
from enrollment_web.services import authority, store
from ra import bulk_import

__all__ = ["bp"]

bp = Blueprint("bulk", __name__)


class UploadForm(FlaskForm):
    file = FileField("file", validators=[FileRequired(
        message=lt("Wybierz plik CSV z listą pracowników.",
                   "Pick the CSV file with the staff list."))])


class ConfirmForm(FlaskForm):
    content = HiddenField("content", validators=[DataRequired()])
    sha256 = HiddenField("sha256", validators=[DataRequired(), Length(min=64, max=64)])


def _page(form=None, plan=None, confirm=None, error=None, done=None, status=200):
    return render_template("bulk_import.html", form=form or UploadForm(formdata=None),
                           plan=plan, confirm=confirm, error=error, done=done,
                           columns=bulk_import.COLUMNS, max_rows=bulk_import.MAX_ROWS), status


@bp.route("/enrolments/import", methods=["GET"])
@require("officer")
def upload():
    return _page()


@bp.route("/enrolments/import", methods=["POST"])
@require("officer")
def dry_run():
    form = UploadForm()
    if not form.validate_on_submit():
        mark_first_error(form)  # the message sits next to the file field, which takes focus
        return _page(form, status=400, error=t("Popraw zaznaczone pola.",
                                               "Correct the marked fields.")
                     if form.file.errors else
                     t("Formularz jest nieaktualny; otwórz stronę ponownie i wgraj plik.",
                       "The form has expired; open the page again and upload the file."))
    data = form.file.data.read()
    plan = bulk_import.dry_run(store(), data, current_actor().orgs)
    confirm = None
    if plan.good:
        confirm = ConfirmForm(formdata=None, content=base64.b64encode(data).decode(),
                              sha256=plan.sha256)
    return _page(plan=plan, confirm=confirm, status=200 if not plan.problems else 400)


@bp.route("/enrolments/import/confirm", methods=["POST"])
@require("officer")
@once
def confirm():
    form = ConfirmForm()
    try:
        data = base64.b64decode(form.content.data or "", validate=True)
    except (binascii.Error, ValueError):
        data = None
    if not form.validate_on_submit() or data is None:
        return _page(error=t("Formularz importu jest niekompletny; wgraj plik jeszcze raz.",
                             "The import form is incomplete; upload the file again."),
                     status=400)
    actor = current_actor()
    try:
        imported = bulk_import.import_staff(authority(), data, actor.audit_name, actor.orgs,
                                            expected_sha256=form.sha256.data)
    except RegCAError as exc:
        plan = bulk_import.dry_run(store(), data, actor.orgs)
        return _page(plan=plan, status=form_status(exc), error=t(
            "Nie zaimportowano niczego: żaden wiersz nie nadaje się już do importu (czy plik "
            "nie został już zaimportowany?).",
            "Nothing was imported: no row can be imported any more (was the file imported "
            "already?).") if plan.sha256 == form.sha256.data else t(
            "Nie zaimportowano niczego: plik różni się od tego, którego próbę pokazano.",
            "Nothing was imported: the file differs from the one whose trial was shown."))
    remember(imported=len(imported.enrolment_ids), rows=len(imported.plan.rows),
             skipped=len(imported.plan.bad), sha256=imported.plan.sha256)
    return redirect(url_for("bulk.imported", done=current_key()), 303)


@bp.route("/enrolments/import/done")
@require("officer")
def imported():
    """The confirmed import's summary, shown again on reload."""
    done = result(request.args.get("done"))
    if done is None:
        return redirect(url_for("bulk.upload"))
    return _page(done=done)
