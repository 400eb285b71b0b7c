"""The token registry pages: list, one token's life, and the officer's lifecycle actions
(report lost, destroyed or blocked; unblock with the SO PIN; replace; renew)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, url_for

from ca.errors import RegCAError
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import form_status
from enrollment_web.forms import ReplaceForm, TokenActionForm, UnblockForm
from enrollment_web.services import authority, store
from ra import certificates
from ra import token_registry as registry
from ra.token import TokenRef

__all__ = ["bp"]

bp = Blueprint("tokens", __name__)
_REPORTS = {"lost": registry.report_lost, "destroyed": registry.report_destroyed,
            "blocked": registry.report_blocked}



def _ref(label: str) -> TokenRef:
    web = current_app.config["WEB_SETTINGS"]
    return TokenRef(web.token_module, label, web.token_softhsm_conf)


@bp.route("/tokens")
@require("officer", "auditor")
def registry_list():
    return render_template("tokens.html", rows=registry.listed(store(), current_actor().orgs))


def _page(token_id: int, status: int = 200, error: str | None = None, **forms):
    actor = current_actor()
    token = registry.visible_token(store(), token_id, actor.orgs)
    certs = certificates.of_token(store(), actor.caller, token_id)
    e = registry.holder_of(store(), token)
    return render_template(
        "token.html", tk=token, certs=certs, e=e, error=error,
        action_form=TokenActionForm(formdata=None),
        unblock_form=forms.get("unblock_form") or UnblockForm(formdata=None),
        replace_form=forms.get("replace_form") or ReplaceForm(formdata=None),
        renew_form=forms.get("renew_form") or ReplaceForm(formdata=None, prefix="renew"),
        transitions=registry.TRANSITIONS), status


@bp.route("/tokens/<int:token_id>")
@require("officer", "auditor")
def detail(token_id: int):
    return _page(token_id)


@bp.route("/tokens/<int:token_id>/report/<state>", methods=["POST"])
@require("officer")
def report(token_id: int, state: str):
    if state not in _REPORTS:
        abort(404)
    if not TokenActionForm().validate_on_submit():
        abort(400)
    actor = current_actor()
    try:
        _REPORTS[state](authority(), token_id, actor.audit_name, actor.orgs)
    except RegCAError as exc:
        return _page(token_id, form_status(exc), exc.message)
    return redirect(url_for("tokens.detail", token_id=token_id))


def _with_token(token_id: int, form, call, form_name: str):
    if not form.validate_on_submit():
        return _page(token_id, 400, "PIN", **{form_name: form})
    actor = current_actor()
    try:
        result = call(actor)
    except RegCAError as exc:
        return _page(token_id, form_status(exc), exc.message, **{form_name: form})
    return redirect(url_for("tokens.detail", token_id=result.id))


@bp.route("/tokens/<int:token_id>/unblock", methods=["POST"])
@require("officer")
def unblock(token_id: int):
    form = UnblockForm()
    token = registry.visible_token(store(), token_id, current_actor().orgs)
    return _with_token(token_id, form, lambda a: registry.unblock(
        authority(), token_id, _ref(token.label), form.so_pin.data, form.new_pin.data,
        a.audit_name, a.orgs), "unblock_form")


@bp.route("/tokens/<int:token_id>/replace", methods=["POST"])
@require("officer")
def replace(token_id: int):
    form = ReplaceForm()
    return _with_token(token_id, form, lambda a: registry.replace(
        authority(), token_id, _ref(form.token_label.data), form.pin.data, a.audit_name, a.orgs),
        "replace_form")


@bp.route("/tokens/<int:token_id>/renew", methods=["POST"])
@require("officer")
def renew(token_id: int):
    form = ReplaceForm(prefix="renew")
    return _with_token(token_id, form, lambda a: registry.renew(
        authority(), token_id, _ref(form.token_label.data), form.pin.data, a.audit_name, a.orgs),
        "renew_form")
