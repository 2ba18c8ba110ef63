"""Lists: every list with its size (kept by hand, or by a rule of the policy), and one list's
members searched and paged, each with why they are in; members of a hand-kept list are added
(by name, id or identity) and removed here, a rule list's only by its rule."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hub.errors import HubError, InvalidInput
from hub.runtime import Hub
from hub.services.people import change_lists
from hub.services.people_lists import list_infos, rule_list
from hub.services.people_pages import NETWORKS, list_page
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render
from web.ui.people import next_url, query_of

router = APIRouter(include_in_schema=False)


def _lists_page(request: Request, hub: Hub, *, error: str = "", value: str = "",
                status: int = 200) -> Response:
    return render(request, "lists/index.html", {
        "section": "lists", "lists": list_infos(hub),
        "used": set(hub.policies.current.lists_used()), "error": error, "value": value},
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


def _list_page(request: Request, hub: Hub, name: str, *, error: str = "", value: str = "",
               status: int = 200) -> Response:
    query = query_of(request)
    page = list_page(hub, name, query)
    return render(request, "lists/detail.html", {
        "section": "lists", "name": name, "page": page,
        "next_url": next_url(f"/lists/{name}", query, page.next_cursor),
        "query": query, "networks": NETWORKS, "rule": rule_list(hub, name),
        "used": name in hub.policies.current.lists_used(), "error": error, "value": value},
        status=status)


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
