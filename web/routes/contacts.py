"""The owner's Contacts pages: sync status and the "Sync now" button (``/contacts``), and the
people-to-sort inbox with accept, merge, split and ignore (``/contacts/inbox``).

Every form is a POST with the CSRF field, like the other pages; a refused change re-renders
the page with the reason and its 4xx status, and nothing is written. Progress of a running
sync is read from the database (the same rows ``hub contacts status`` prints), so a sync
started from the CLI shows here too; the page refreshes itself while one runs.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from hub.bootstrap import contact_reader
from hub.errors import HubError, InvalidInput
from hub.runtime import Hub
from hub.services import jobs
from hub.services.contacts import direction_of, relationships, sync_states
from hub.services.contacts_inbox import accept, inbox, split_identity
from hub.services.contacts_job import KIND
from hub.services.contacts_schedule import UNFINISHED, ContactSync, syncable_accounts
from hub.services.contacts_sort import ignore, ignored, merge, split, unignore
from hub.services.people import list_people
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render

router = APIRouter(include_in_schema=False)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _runner(request: Request, hub: Hub) -> ContactSync:
    """The runtime's (``hub serve``), or one made for this app (tests building their own)."""
    runner: ContactSync | None = getattr(request.app.state, "contact_sync", None)
    if runner is None:
        import adapters

        runner = ContactSync(hub, contact_reader, adapters.CONTACT_READERS)
        request.app.state.contact_sync = runner
    return runner


def _status_page(request: Request, hub: Hub, *, error: str = "", status: int = 200
                 ) -> Response:
    runner = _runner(request, hub)
    states = sync_states(hub)
    rels = relationships(hub)
    counts: dict[str, Counter[str]] = {}
    for r in rels:
        counts.setdefault(r.account, Counter())[direction_of(r)] += 1
    lost = relationships(hub, lost=True)[:50]
    busy = runner.running() | {s.account for s in states if s.status in UNFINISHED
                               and s.status != "paused"}
    recent = jobs.recent(hub, limit=10, kinds=[KIND])
    busy |= {str(j.params.get("account")) for j in recent if j.state in jobs.ACTIVE}
    return render(request, "contacts/index.html", {
        "section": "contacts", "accounts": syncable_accounts(hub, runner.platforms),
        "jobs": recent,
        "states": states, "counts": counts, "lost": lost, "busy": bool(busy),
        "unsorted": len(inbox(hub)), "error": error}, status=status)


@router.get("/contacts")
def contacts_index(request: Request, hub: HubDep, owner: Owner) -> Response:
    return _status_page(request, hub)


@router.post("/contacts/sync")
async def contacts_sync(request: Request, hub: HubDep, owner: Owner,
                        form: CsrfForm) -> Response:
    account = _text(form, "account") or None
    try:
        started = _runner(request, hub).start(account)
    except HubError as exc:
        return _status_page(request, hub, error=exc.message, status=exc.status)
    if not started:
        return redirect(request, "/contacts", flash="Every account is syncing already.",
                        kind="warn")
    if len(started) == 1:     # the job's page follows it with a progress bar
        job = _runner(request, hub).started[started[0]]
        return redirect(request, f"/jobs/{job.id}", flash=f"Syncing {started[0]}…")
    return redirect(request, "/contacts", flash=f"Syncing {', '.join(started)}…")


def _inbox_page(request: Request, hub: Hub, *, error: str = "", status: int = 200,
                values: dict[str, str] | None = None) -> Response:
    people = list_people(hub)
    return render(request, "contacts/inbox.html", {
        "section": "contacts", "unsorted": inbox(hub), "ignored": ignored(hub),
        "people": people, "error": error, "values": values or {}}, status=status)


@router.get("/contacts/inbox")
def contacts_inbox(request: Request, hub: HubDep, owner: Owner) -> Response:
    return _inbox_page(request, hub)


def _change(request: Request, hub: Hub, form: FormData, action: Any, done: str) -> Response:
    values = {k: _text(form, k) for k in ("identity", "person", "name", "into", "other",
                                          "identities")}
    try:
        message = action(values)
    except HubError as exc:
        return _inbox_page(request, hub, error=exc.message, status=exc.status, values=values)
    return redirect(request, "/contacts/inbox", flash=message or done)


@router.post("/contacts/accept")
def contacts_accept(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    def act(v: dict[str, str]) -> str:
        kind, address = split_identity(v["identity"])
        who = accept(hub, kind, address, person=v["person"] or None, name=v["name"] or None)
        return f"Filed {kind}:{address} on {who}."
    return _change(request, hub, form, act, "Filed.")


@router.post("/contacts/ignore")
def contacts_ignore(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    return _change(request, hub, form,
                   lambda v: f"Ignoring {ignore(hub, v['identity'])}.", "Ignored.")


@router.post("/contacts/unignore")
def contacts_unignore(request: Request, hub: HubDep, owner: Owner,
                      form: CsrfForm) -> Response:
    return _change(request, hub, form,
                   lambda v: f"{unignore(hub, v['identity'])} is back in the inbox.", "Done.")


@router.post("/contacts/merge")
def contacts_merge(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    def act(v: dict[str, str]) -> str:
        if not v["into"] or not v["other"]:
            raise InvalidInput("choose the two people to merge", field="person")
        kept = merge(hub, v["into"], v["other"])
        return f"Merged into {kept.name}."
    return _change(request, hub, form, act, "Merged.")


@router.post("/contacts/split")
def contacts_split(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    def act(v: dict[str, str]) -> str:
        if not v["person"]:
            raise InvalidInput("choose the person to split", field="person")
        chosen = [x for x in form.getlist("identities") if isinstance(x, str) and x.strip()]
        new = split(hub, v["person"], chosen, v["name"])
        return f"Split {len(chosen)} identities off into {new.name}."
    return _change(request, hub, form, act, "Split.")
