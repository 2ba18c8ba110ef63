"""Lists: every list with its size (kept by hand, or by a rule of the policy), and one list's
members searched and paged, each with why they are in; members of a hand-kept list are added
(by name, id or identity) and removed here, a rule list's only by its rule. Lists that keep
themselves are defined, previewed, changed and removed here too, in the one policy file the
hub manages (``hub.services.rule_list_edit``); those in the owner's own files are read-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from hub.errors import HubError, InvalidInput
from hub.runtime import Hub
from hub.services.people import change_lists
from hub.services.people_lists import list_infos, rule_list
from hub.services.people_pages import NETWORKS, list_page
from hub.services.rule_list_edit import (
    RuleListPreview,
    define_rule_list,
    editable_here,
    preview_rule_list,
    ui_file_digest,
    ui_file_place,
    undefine_rule_list,
)
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render
from web.ui.people import next_url, query_of

router = APIRouter(include_in_schema=False)


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _rule_form(form: FormData | None, hub: Hub, **defaults: str) -> dict[str, str]:
    """What the rule-list form shows: what was typed (kept on every error), or the defaults;
    ``digest`` is the hub-managed file as it was when the form was first shown."""
    if form is None:
        return {"name": "", "rule": "", "description": "", **defaults,
                "digest": ui_file_digest(hub)}
    return {k: _text(form, k) for k in ("name", "rule", "description", "digest")}


def _lists_page(request: Request, hub: Hub, *, error: str = "", value: str = "",
                rule_form: dict[str, str] | None = None, rule_error: str = "",
                preview: RuleListPreview | None = None, status: int = 200) -> Response:
    infos = list_infos(hub)
    return render(request, "lists/index.html", {
        "section": "lists", "lists": infos,
        "used": set(hub.policies.current.lists_used()), "error": error, "value": value,
        "rule_form": rule_form or _rule_form(None, hub), "rule_error": rule_error,
        "preview": preview, "ui_file": ui_file_place(hub),
        "editable": {i.name for i in infos if i.kept_by_rule and editable_here(hub, i.name)}},
        status=status)


@router.get("/lists")
def lists_index(request: Request, hub: HubDep, owner: Owner) -> Response:
    return _lists_page(request, hub)


@router.post("/lists")
def lists_create(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    value = form.get("name")
    name = value.strip().lower() if isinstance(value, str) else ""
    try:
        change_lists(hub, name)
    except HubError as exc:
        return _lists_page(request, hub, error=exc.message, value=name, status=exc.status)
    return redirect(request, f"/lists/{name}", flash=f"List {name} is ready.")


@router.post("/lists/rules")
def rule_list_create(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    """A new list that keeps itself: ``action=preview`` shows who its rule names now (nothing
    is written), ``action=save`` writes it to the hub-managed file and loads the policy."""
    typed = _rule_form(form, hub)
    name = typed["name"].strip()
    try:
        if _text(form, "action") == "preview":
            shown = preview_rule_list(hub, name, typed["rule"], typed["description"],
                                      create=True)
            return _lists_page(request, hub, rule_form=typed, preview=shown)
        policy = define_rule_list(hub, name, typed["rule"], typed["description"],
                                  expected_digest=typed["digest"], create=True,
                                  actor="owner:web")
    except HubError as exc:
        return _lists_page(request, hub, rule_form=typed, rule_error=exc.message,
                           status=exc.status)
    return redirect(request, f"/lists/{name}", flash=_saved(hub, name, policy.digest))


def _saved(hub: Hub, name: str, digest: str) -> str:
    return (f"List {name} keeps itself now; saved in {ui_file_place(hub)} and policy "
            f"{digest[:12]} loaded.")


def _list_page(request: Request, hub: Hub, name: str, *, error: str = "", value: str = "",
               rule_form: dict[str, str] | None = None, rule_error: str = "",
               preview: RuleListPreview | None = None, status: int = 200) -> Response:
    query = query_of(request)
    page = list_page(hub, name, query)
    kept = rule_list(hub, name)
    context: dict[str, Any] = {
        "section": "lists", "name": name, "page": page,
        "next_url": next_url(f"/lists/{name}", query, page.next_cursor),
        "query": query, "networks": NETWORKS, "rule": kept,
        "used": name in hub.policies.current.lists_used(), "error": error, "value": value,
        "editable": kept is not None and editable_here(hub, name),
        "ui_file": ui_file_place(hub), "rule_error": rule_error, "preview": preview,
        "rule_form": rule_form or _rule_form(
            None, hub, name=name, rule=kept.text if kept else "",
            description=kept.description if kept else "")}
    return render(request, "lists/detail.html", context, status=status)


@router.get("/lists/{name}")
def list_detail(name: str, request: Request, hub: HubDep, owner: Owner) -> Response:
    return _list_page(request, hub, name)


@router.post("/lists/{name}/members")
def list_members(name: str, request: Request, hub: HubDep, owner: Owner,
                 form: CsrfForm) -> Response:
    add = [v.strip() for v in form.getlist("add") if isinstance(v, str) and v.strip()]
    remove = [v for v in form.getlist("remove") if isinstance(v, str) and v]
    try:
        if not add and not remove:
            raise InvalidInput("choose someone to add or remove", field="person")
        added, removed = change_lists(hub, name, add=add, remove=remove)
    except HubError as exc:
        return _list_page(request, hub, name, error=exc.message, value=", ".join(add),
                          status=exc.status)
    return redirect(request, f"/lists/{name}",
                    flash=f"{len(added)} added, {len(removed)} removed.")


@router.post("/lists/{name}/rule")
def rule_list_change(name: str, request: Request, hub: HubDep, owner: Owner,
                     form: CsrfForm) -> Response:
    """A new rule or description for a list the hub-managed file defines: preview or save."""
    typed = {**_rule_form(form, hub), "name": name}
    try:
        if _text(form, "action") == "preview":
            shown = preview_rule_list(hub, name, typed["rule"], typed["description"],
                                      create=False)
            return _list_page(request, hub, name, rule_form=typed, preview=shown)
        policy = define_rule_list(hub, name, typed["rule"], typed["description"],
                                  expected_digest=typed["digest"], create=False,
                                  actor="owner:web")
    except HubError as exc:
        return _list_page(request, hub, name, rule_form=typed, rule_error=exc.message,
                          status=exc.status)
    return redirect(request, f"/lists/{name}", flash=_saved(hub, name, policy.digest))


@router.post("/lists/{name}/rule/delete")
def rule_list_delete(name: str, request: Request, hub: HubDep, owner: Owner,
                     form: CsrfForm) -> Response:
    """Remove a list the hub-managed file defines (refused while something uses it)."""
    try:
        policy = undefine_rule_list(hub, name, expected_digest=_text(form, "digest"),
                                    actor="owner:web")
    except HubError as exc:
        return _list_page(request, hub, name, rule_error=exc.message, status=exc.status)
    return redirect(request, "/lists", flash=f"List {name} removed from "
                    f"{ui_file_place(hub)}; policy {policy.digest[:12]} loaded.")
