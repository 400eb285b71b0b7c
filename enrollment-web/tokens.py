"""The token registry pages: list, one token's life, and the officer's lifecycle actions
(report lost, destroyed or blocked; unblock with the SO PIN; replace; renew).

A report is asked for on a page of its own that says what it does ("Zgłoś utratę" revokes the
token's certificates); every form is POST-redirect-GET through ``once``."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from ca.errors import RegCAError
from enrollment_web.auth import current_actor, require
from enrollment_web.errorpages import error_page, form_status
from enrollment_web.forms import (
    ReplaceForm,
    TokenActionForm,
    UnblockForm,
    add_error,
    mark_first_error,
)
from enrollment_web.i18n import t
from enrollment_web.messages import explain
from enrollment_web.names import token_state_name
from enrollment_web.once import current_key, once, remember, result
from enrollment_web.services import authority, store
from ra import certificates
from ra import token_registry as registry
from ra.paging import page_number
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
    page = registry.listed(store(), current_actor().orgs, page_number(request.args.get("page")))
    return render_template("tokens.html", page=page)


def _page(token_id: int, status: int = 200, error: str | None = None, **forms):
    actor = current_actor()
    token = registry.visible_token(store(), token_id, actor.orgs)
    certs = certificates.of_token(store(), actor.caller, token_id)
    e = registry.holder_of(store(), token)
    done = result(request.args.get("done")) or {}
    return render_template(
        "token.html", tk=token, certs=certs, e=e, error=error, success=done.get("message"),
        unblock_form=forms.get("unblock_form") or UnblockForm(formdata=None),
        replace_form=forms.get("replace_form") or ReplaceForm(formdata=None),
        renew_form=forms.get("renew_form") or ReplaceForm(formdata=None, prefix="renew"),
        transitions=registry.TRANSITIONS), status


@bp.route("/tokens/<int:token_id>")
@require("officer", "auditor")
def detail(token_id: int):
    return _page(token_id)


_DONE = {"lost": ("Zgłoszono utratę tokenu; jego certyfikaty unieważniono.",
                  "The token was reported lost; its certificates were revoked."),
         "destroyed": ("Zgłoszono zniszczenie tokenu.", "The token was reported destroyed."),
         "blocked": ("Zgłoszono zablokowany PIN tokenu.", "The token's PIN was reported blocked.")}


@bp.route("/tokens/<int:token_id>/report/<state>", methods=["GET", "POST"])
@require("officer")
@once
def report(token_id: int, state: str):
    """The report's own page: what it changes, then the button."""
    if state not in _REPORTS:
        abort(404)
    actor = current_actor()
    token = registry.visible_token(store(), token_id, actor.orgs)
    if token.state not in registry.TRANSITIONS[state]:
        state_name = token_state_name(token.state)
        return error_page(409, t(
            f"Tego zgłoszenia nie można złożyć: token jest w stanie „{state_name}”.",
            f"This report cannot be made: the token is {state_name}."))
    form, error, status = TokenActionForm(), None, 200
    if form.validate_on_submit():
        try:
            _REPORTS[state](authority(), token_id, actor.audit_name, actor.orgs)
        except RegCAError as exc:
            status = form_status(exc)
            error = explain(exc)[1]
        else:
            remember(message=t(*_DONE[state]))
            return redirect(url_for("tokens.detail", token_id=token_id, done=current_key()), 303)
    elif form.is_submitted():
        abort(400)
    certs = [c for c in certificates.of_token(store(), actor.caller, token_id) if c.revocable]
    return render_template("token_report.html", tk=token, state=state, form=form, certs=certs,
                           e=registry.holder_of(store(), token), error=error), status


def _with_token(token_id: int, form, call, form_name: str, done: tuple[str, str]):
    if not form.validate_on_submit():
        mark_first_error(form)
        return _page(token_id, 400, t("Popraw zaznaczone pola.", "Correct the marked fields."),
                     **{form_name: form})
    actor = current_actor()
    try:
        outcome = call(actor)
    except RegCAError as exc:
        status = form_status(exc)
        field, message = explain(exc)
        placed = add_error(form, field, message)
        mark_first_error(form)
        return _page(token_id, status, None if placed else message, **{form_name: form})
    remember(message=t(*done))
    return redirect(url_for("tokens.detail", token_id=outcome.id, done=current_key()), 303)


@bp.route("/tokens/<int:token_id>/unblock", methods=["POST"])
@require("officer")
@once
def unblock(token_id: int):
    form = UnblockForm()
    token = registry.visible_token(store(), token_id, current_actor().orgs)
    return _with_token(token_id, form, lambda a: registry.unblock(
        authority(), token_id, _ref(token.label), form.so_pin.data, form.new_pin.data,
        a.audit_name, a.orgs), "unblock_form",
        ("PIN tokenu odblokowano; posiadacz używa nowego PIN-u.",
         "The token's PIN was unblocked; the holder uses the new PIN."))


@bp.route("/tokens/<int:token_id>/replace", methods=["POST"])
@require("officer")
@once
def replace(token_id: int):
    form = ReplaceForm()
    return _with_token(token_id, form, lambda a: registry.replace(
        authority(), token_id, _ref(form.token_label.data), form.pin.data, a.audit_name, a.orgs),
        "replace_form", ("Token wymieniono; to jest nowy token.",
                         "The token was replaced; this is the new one."))


@bp.route("/tokens/<int:token_id>/renew", methods=["POST"])
@require("officer")
@once
def renew(token_id: int):
    form = ReplaceForm(prefix="renew")
    return _with_token(token_id, form, lambda a: registry.renew(
        authority(), token_id, _ref(form.token_label.data), form.pin.data, a.audit_name, a.orgs),
        "renew_form", ("Certyfikaty na tokenie odnowiono.",
                       "The certificates on the token were renewed."))
