"""Drafts on the web: "Save draft" on the compose form, the list of drafts, resuming one in the
compose form (sending it there makes the post and removes the draft), deleting one."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hub.domain.model import join_thread
from hub.errors import HubError
from hub.services.drafts import MAX_IMAGES, Author, MediaRef
from hub.services.saved_drafts import (
    DraftInput,
    SavedDraft,
    delete_draft,
    get_draft,
    list_drafts,
    save_draft,
    update_draft,
)
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render
from web.ui.compose import ComposeForm, _page, _upload_new

router = APIRouter(include_in_schema=False)


def _as_form(draft: SavedDraft) -> ComposeForm:
    d = draft.data
    zone_name = d.time_zone or "Etc/UTC"     # "UTC" would be replaced by the browser's zone
    when = ""
    if d.schedule_at is not None:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            zone, zone_name = ZoneInfo("Etc/UTC"), "Etc/UTC"
        when = d.schedule_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    # The form has one text box per network: a variant written as a thread (through the API)
    # shows its parts joined by a blank line, as networks without threads receive it.
    variants = {k: v if isinstance(v, str) else join_thread(list(v))
                for k, v in d.variants.items()}
    text, parts = (d.thread[0], list(d.thread[1:])) if d.thread else (d.text, [])
    return ComposeForm(text=text, audiences=list(d.audiences), tags=" ".join(d.tags),
                       content_warning=d.content_warning, language=d.language,
                       schedule_at=when, tz=zone_name,
                       media=[(m.sha256, m.alt) for m in d.media][:MAX_IMAGES],
                       parts=parts, variants=variants, draft_id=draft.id)


def _as_input(draft: ComposeForm) -> DraftInput:
    when = draft._when()
    parts = [p for p in draft.parts if p.strip()]
    return DraftInput(text="" if parts else draft.text, audiences=draft.audiences,
                      tags=[draft.tags],
                      content_warning=draft.content_warning, language=draft.language,
                      schedule_at=when.astimezone(UTC) if when else None,
                      media=[MediaRef(sha, alt) for sha, alt in draft.media],
                      time_zone=draft.tz if when else "",
                      thread=[draft.text, *parts] if parts else (),
                      variants={k: v for k, v in draft.variants.items() if v.strip()})


@router.get("/drafts")
async def drafts_list(request: Request, hub: HubDep, owner: Owner) -> Response:
    drafts = await run_in_threadpool(list_drafts, hub, Author())
    return render(request, "drafts/list.html", {"section": "drafts", "drafts": drafts})


@router.get("/drafts/{draft_id}")
async def draft_resume(draft_id: str, request: Request, hub: HubDep, owner: Owner) -> Response:
    draft = await run_in_threadpool(get_draft, hub, draft_id, Author())
    return _page(request, hub, _as_form(draft), None)


@router.post("/drafts")
def draft_save(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    """The compose form's "Save draft": stored as typed (images uploaded, the thread's parts and
    the per-network texts kept), nothing routed."""
    typed = ComposeForm.from_form(form)
    try:
        _upload_new(hub, form, typed)
        data = _as_input(typed)
        saved = (update_draft(hub, typed.draft_id, data, Author()) if typed.draft_id
                 else save_draft(hub, data, Author()))
    except HubError as exc:
        return _page(request, hub, typed, None, exc, status=exc.status)
    return redirect(request, "/drafts", flash=f"Draft saved ({saved.id}). Nothing was sent: "
                                              "open it to go on or to send it.")


@router.post("/drafts/{draft_id}/delete")
async def draft_delete(draft_id: str, request: Request, hub: HubDep, owner: Owner,
                       form: CsrfForm) -> Response:
    await run_in_threadpool(delete_draft, hub, draft_id, Author())
    return redirect(request, "/drafts", flash="Draft deleted.")
