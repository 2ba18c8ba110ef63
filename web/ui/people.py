"""People: the address book searched and paged, one person's page (identities, lists and why,
relationships, what they could see, feed fetches, the note), adding people, identities and
list membership, import and export (CSV, vCard). The lists' own pages: ``people_lists``."""

from __future__ import annotations

from urllib.parse import urlencode

import regex
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from hub.errors import HubError, InvalidInput
from hub.runtime import Hub
from hub.services.people import (
    NewPerson,
    PersonExists,
    add_identity,
    add_person,
    change_lists,
    lists_of,
    remove_identity,
    remove_person,
    update_person,
)
from hub.services.people_export import export_people
from hub.services.people_import import import_people, parse_people
from hub.services.people_import_job import import_params, keep_upload
from hub.services.people_lists import list_infos
from hub.services.people_pages import NETWORKS, Query, people_page, person_page
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render
from web.ui.jobs import runner_of

router = APIRouter(include_in_schema=False)
KINDS = ("email", "mastodon", "bluesky", "matrix")
MAX_IMPORT_BYTES = 32_000_000
IMPORT_AT_ONCE = 200   # entries; a larger file is imported as a background job


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _words(value: str) -> list[str]:
    return [w for w in regex.split(r"[,;\s]+", value) if w]


def query_of(request: Request) -> Query:
    """The search and filters of a people or list page, from its query string."""
    args = request.query_params
    return Query(q=(args.get("q") or "").strip()[:200], list_name=args.get("list") or "",
                 network=args.get("network") or "", unsorted=args.get("unsorted") == "1",
                 cursor=args.get("cursor") or "")


def next_url(path: str, query: Query, cursor: str) -> str:
    """The link to the page after this one, keeping the search and filters."""
    args = {"q": query.q, "list": query.list_name, "network": query.network,
            "unsorted": "1" if query.unsorted else "", "cursor": cursor}
    return f"{path}?{urlencode({k: v for k, v in args.items() if v})}" if cursor else ""


def _people_page(request: Request, hub: Hub, *, values: dict[str, str] | None = None,
                 error: str = "", status: int = 200, existing: list[str] | None = None
                 ) -> Response:
    query = query_of(request)
    page = people_page(hub, query)
    return render(request, "people/index.html", {
        "section": "people", "page": page, "query": query,
        "next_url": next_url("/people", query, page.next_cursor),
        "lists": list_infos(hub), "networks": NETWORKS, "values": values or {},
        "error": error, "existing": existing or []}, status=status)


@router.get("/people")
def people_index(request: Request, hub: HubDep, owner: Owner) -> Response:
    return _people_page(request, hub)


@router.post("/people")
def people_add(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    values = {k: _text(form, k) for k in ("name", "note", "lists", "new", *KINDS)}
    try:
        idents = [(kind, v) for kind in KINDS for v in _words(values[kind])]
        row = add_person(hub, NewPerson(values["name"], idents, _words(values["lists"].lower()),
                                        values["note"]), allow_same_name=values["new"] == "1")
    except PersonExists as exc:   # 409: say who, and offer a second person deliberately
        return _people_page(request, hub, values=values, error=exc.message, status=exc.status,
                            existing=exc.person_ids)
    except HubError as exc:
        return _people_page(request, hub, values=values, error=exc.message, status=exc.status)
    return redirect(request, f"/people/{row.id}", flash=f"Added {row.name}.")


@router.get("/people/export.csv")
def export_csv(request: Request, hub: HubDep, owner: Owner) -> Response:
    return Response(export_people(hub, "csv"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="people.csv"'})


@router.get("/people/export.vcf")
def export_vcard(request: Request, hub: HubDep, owner: Owner) -> Response:
    return Response(export_people(hub, "vcard"), media_type="text/vcard; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="people.vcf"'})


@router.get("/people/import")
def import_form(request: Request, hub: HubDep, owner: Owner) -> Response:
    return render(request, "people/import.html", {"section": "people", "error": ""})


@router.post("/people/import")
def import_submit(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    """A small file is imported at once (back to People); a larger one becomes a background
    job (on to its progress page) so the hub keeps serving while it goes in."""
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("choose a CSV or vCard file to import", field="file")
        raw = upload.file.read(MAX_IMPORT_BYTES + 1)
        if len(raw) > MAX_IMPORT_BYTES:
            raise InvalidInput(f"the file is larger than {MAX_IMPORT_BYTES // 1_000_000} MB; "
                               "split it up", field="file")
        try:
            data = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("the file is not UTF-8 text", field="file") from None
        if _entries_at_most(data) > IMPORT_AT_ONCE:
            job = runner_of(request).submit("people-import", import_params(
                keep_upload(hub, upload.filename, raw), filename=upload.filename, keep=False))
            return redirect(request, f"/jobs/{job.id}",
                            flash=f"Importing {upload.filename} in the background.")
        count = import_people(hub, parse_people(data, filename=upload.filename))
    except HubError as exc:
        return render(request, "people/import.html", {"section": "people",
                                                      "error": exc.message}, status=exc.status)
    return redirect(request, "/people", flash=f"Imported {count} people.")


def _entries_at_most(data: str) -> int:
    """An upper bound on the entries in a file, without parsing it (lines, or vCards)."""
    cards = data.upper().count("BEGIN:VCARD")
    return cards if cards else data.count("\n")


def _person_page(request: Request, hub: Hub, person_id: str, *, error: str = "",
                 values: dict[str, str] | None = None, status: int = 200) -> Response:
    cursor = request.query_params.get("cursor") or None
    page = person_page(hub, person_id, cursor=cursor)
    return render(request, "people/detail.html", {
        "section": "people", "page": page, "person": page.person,
        "identities": page.identities, "member_of": [n for n, _ in page.static_lists],
        "lists": [i for i in list_infos(hub) if not i.kept_by_rule], "kinds": KINDS,
        "error": error, "values": values or {}}, status=status)


@router.get("/people/{person_id}")
def person_detail(person_id: str, request: Request, hub: HubDep, owner: Owner) -> Response:
    return _person_page(request, hub, person_id)


@router.post("/people/{person_id}/identities")
def person_identity(person_id: str, request: Request, hub: HubDep, owner: Owner,
                    form: CsrfForm) -> Response:
    values = {"kind": _text(form, "kind"), "value": _text(form, "value")}
    try:
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
        member_of = lists_of(hub, person_id)
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
