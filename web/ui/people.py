"""People and lists: add people and identities, manage list membership, import CSV/vCard."""

from __future__ import annotations

from typing import Any

import regex
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from hub.errors import HubError, InvalidInput, NotFound
from hub.runtime import Hub
from hub.services.people import (
    NewPerson,
    add_identity,
    add_person,
    all_lists,
    change_lists,
    list_people,
    remove_identity,
    remove_person,
    show_list,
    update_person,
)
from hub.services.people_import import import_people, parse_people
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render

router = APIRouter(include_in_schema=False)
KINDS = ("email", "mastodon", "bluesky")
MAX_IMPORT_BYTES = 2_000_000


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _words(value: str) -> list[str]:
    return [w for w in regex.split(r"[,;\s]+", value) if w]


def _people_page(request: Request, hub: Hub, *, values: dict[str, str] | None = None,
                 error: str = "", status: int = 200) -> Response:
    return render(request, "people/index.html", {
        "section": "people", "people": list_people(hub), "lists": all_lists(hub),
        "values": values or {}, "error": error}, status=status)


@router.get("/people")
def people_index(request: Request, hub: HubDep, owner: Owner) -> Response:
    return _people_page(request, hub)


@router.post("/people")
def people_add(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    values = {k: _text(form, k) for k in ("name", "note", "lists", *KINDS)}
    try:
        idents = [(kind, v) for kind in KINDS for v in _words(values[kind])]
        row = add_person(hub, NewPerson(values["name"], idents, _words(values["lists"].lower()),
                                        values["note"]))
    except HubError as exc:
        return _people_page(request, hub, values=values, error=exc.message, status=exc.status)
    return redirect(request, "/people", flash=f"Added {row.name}.")


@router.get("/people/import")
def import_form(request: Request, hub: HubDep, owner: Owner) -> Response:
    return render(request, "people/import.html", {"section": "people", "error": ""})


@router.post("/people/import")
def import_submit(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("choose a CSV or vCard file to import", field="file")
        raw = upload.file.read(MAX_IMPORT_BYTES + 1)
        if len(raw) > MAX_IMPORT_BYTES:
            raise InvalidInput("the file is larger than 2 MB; split it up", field="file")
        try:
            data = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("the file is not UTF-8 text", field="file") from None
        count = import_people(hub, parse_people(data, filename=upload.filename))
    except HubError as exc:
        return render(request, "people/import.html", {"section": "people",
                                                      "error": exc.message}, status=exc.status)
    return redirect(request, "/people", flash=f"Imported {count} people.")


def _person(hub: Hub, person_id: str) -> tuple[Any, list[Any], list[str]]:
    for p, idents, lists in list_people(hub):
        if p.id == person_id:
            return p, idents, lists
    raise NotFound(f"no person {person_id!r}")


def _person_page(request: Request, hub: Hub, person_id: str, *, error: str = "",
                 values: dict[str, str] | None = None, status: int = 200) -> Response:
    person, idents, member_of = _person(hub, person_id)
    return render(request, "people/detail.html", {
        "section": "people", "person": person, "identities": idents, "member_of": member_of,
        "lists": all_lists(hub), "kinds": KINDS, "error": error, "values": values or {}},
        status=status)


@router.get("/people/{person_id}")
def person_detail(person_id: str, request: Request, hub: HubDep, owner: Owner) -> Response:
    return _person_page(request, hub, person_id)


@router.post("/people/{person_id}/identities")
def person_identity(person_id: str, request: Request, hub: HubDep, owner: Owner,
                    form: CsrfForm) -> Response:
    values = {"kind": _text(form, "kind"), "value": _text(form, "value")}
    try:
        _person(hub, person_id)
        add_identity(hub, person_id, f"{values['kind']}:{values['value']}")
    except HubError as exc:
        return _person_page(request, hub, person_id, error=exc.message, values=values,
                            status=exc.status)
    return redirect(request, f"/people/{person_id}", flash="Identity added.")


@router.post("/people/{person_id}/edit")
def person_edit(person_id: str, request: Request, hub: HubDep, owner: Owner,
                form: CsrfForm) -> Response:
    values = {"name": _text(form, "name"), "note": _text(form, "note")}
    try:
        update_person(hub, person_id, name=values["name"], note=values["note"])
    except HubError as exc:
        return _person_page(request, hub, person_id, error=exc.message, values=values,
                            status=exc.status)
    return redirect(request, f"/people/{person_id}", flash="Saved.")


@router.post("/people/{person_id}/identities/remove")
def person_identity_remove(person_id: str, request: Request, hub: HubDep, owner: Owner,
                           form: CsrfForm) -> Response:
    spec = f"{_text(form, 'kind')}:{_text(form, 'value')}"
    try:
        remove_identity(hub, person_id, spec)
    except HubError as exc:
        return _person_page(request, hub, person_id, error=exc.message, status=exc.status)
    return redirect(request, f"/people/{person_id}", flash="Identity removed.")


@router.post("/people/{person_id}/lists")
def person_lists(person_id: str, request: Request, hub: HubDep, owner: Owner,
                 form: CsrfForm) -> Response:
    """Tick the lists the person belongs to (and optionally name a new one)."""
    values = {"new_list": _text(form, "new_list")}
    try:
        _, _, member_of = _person(hub, person_id)
        wanted = {v for v in form.getlist("lists") if isinstance(v, str)}
        wanted |= set(_words(values["new_list"].lower()))
        for name in sorted(wanted - set(member_of)):
            change_lists(hub, name, add=[person_id])
        for name in sorted(set(member_of) - wanted):
            change_lists(hub, name, remove=[person_id])
    except HubError as exc:
        return _person_page(request, hub, person_id, error=exc.message, values=values,
                            status=exc.status)
    return redirect(request, f"/people/{person_id}", flash="Lists saved.")


@router.post("/people/{person_id}/remove")
def person_remove(person_id: str, request: Request, hub: HubDep, owner: Owner,
                  form: CsrfForm) -> Response:
    name = remove_person(hub, person_id)
    return redirect(request, "/people", flash=f"Removed {name}. The audit keeps what they "
                                               "could see.")


# -- lists ---------------------------------------------------------------------------------

def _lists_page(request: Request, hub: Hub, *, error: str = "", value: str = "",
                status: int = 200) -> Response:
    return render(request, "lists/index.html", {
        "section": "lists", "lists": all_lists(hub),
        "used": set(hub.policies.current.lists_used()), "error": error, "value": value},
        status=status)


@router.get("/lists")
def lists_index(request: Request, hub: HubDep, owner: Owner) -> Response:
    return _lists_page(request, hub)


@router.post("/lists")
def lists_create(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    name = _text(form, "name").lower()
    try:
        change_lists(hub, name)
    except HubError as exc:
        return _lists_page(request, hub, error=exc.message, value=name, status=exc.status)
    return redirect(request, f"/lists/{name}", flash=f"List {name} is ready.")


def _list_page(request: Request, hub: Hub, name: str, *, error: str = "",
               status: int = 200) -> Response:
    members = show_list(hub, name)
    inside = {p.id for p, _ in members}
    return render(request, "lists/detail.html", {
        "section": "lists", "name": name, "members": members,
        "others": [p for p, _, _ in list_people(hub) if p.id not in inside],
        "used": name in hub.policies.current.lists_used(), "error": error}, status=status)


@router.get("/lists/{name}")
def list_detail(name: str, request: Request, hub: HubDep, owner: Owner) -> Response:
    return _list_page(request, hub, name)


@router.post("/lists/{name}/members")
def list_members(name: str, request: Request, hub: HubDep, owner: Owner,
                 form: CsrfForm) -> Response:
    add = [v for v in form.getlist("add") if isinstance(v, str) and v]
    remove = [v for v in form.getlist("remove") if isinstance(v, str) and v]
    try:
        if not add and not remove:
            raise InvalidInput("choose someone to add or remove", field="person")
        added, removed = change_lists(hub, name, add=add, remove=remove)
    except HubError as exc:
        return _list_page(request, hub, name, error=exc.message, status=exc.status)
    return redirect(request, f"/lists/{name}",
                    flash=f"{len(added)} added, {len(removed)} removed.")
