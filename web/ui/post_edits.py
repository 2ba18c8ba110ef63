"""Editing a post from its page: the form (the text, and one text box per network for its own
text, as on the compose form), the preview that says what happens to every copy and which text
it would carry (retractions first), then the confirmed edit; approving held edits; cancelling
one target."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from hub.domain.model import Post
from hub.errors import HubError, InvalidInput
from hub.runtime import Hub
from hub.services.cancel import cancel_delivery
from hub.services.drafts import Author, split_list
from hub.services.edits import EditInput, approve_edits, edit_post, plan_edit
from hub.services.posts import get_post
from hub.services.preview import facts_of
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render

router = APIRouter(include_in_schema=False)


def _variant_fields(form: FormData) -> dict[str, str]:
    """The form's ``variants[KEY]`` boxes, as typed."""
    return {key[9:-1]: value.replace("\r\n", "\n") for key, value in form.multi_items()
            if key.startswith("variants[") and key.endswith("]") and isinstance(value, str)}


def _variant_change(typed: dict[str, str], post: Post) -> dict[str, str | None]:
    """A box emptied removes that variant; a box left empty that had none adds nothing."""
    had = {v.key for v in post.variants}
    return {key: value if value.strip() else None for key, value in typed.items()
            if value.strip() or key in had}


def _networks(hub: Hub, post: Post) -> list[tuple[str, str]]:
    """(key, label) of each variant box: every network of the policy, then any target the
    post has its own variant for."""
    policy = hub.policies.current
    boxes = [(name, facts_of(hub, name).display_name)
             for name in dict.fromkeys(t.platform for t in policy.targets.values())]
    named = {key for key, _ in boxes}
    return boxes + [(v.key, v.key) for v in post.variants if v.key not in named]


def _change(form: FormData, post: Post) -> EditInput:
    def text(name: str) -> str | None:
        value = form.get(name)
        return value.replace("\r\n", "\n") if isinstance(value, str) else None

    alts = {}
    for sha, alt in zip(form.getlist("media"), form.getlist("media_alt"), strict=False):
        if isinstance(sha, str) and isinstance(alt, str):
            alts[sha] = alt
    when = None
    raw = text("schedule_at")
    if raw:
        try:
            zone = ZoneInfo(text("tz") or "UTC")
            when = datetime.fromisoformat(raw)
        except (ValueError, ZoneInfoNotFoundError, OSError) as exc:   # a folder, too long
            raise InvalidInput(f"schedule_at: {exc}", field="schedule_at") from None
        when = when.replace(tzinfo=zone) if when.tzinfo is None else when
    return EditInput(text=text("text"), content_warning=text("content_warning") or "",
                     language=text("language") or "",
                     tags=split_list([t for t in form.getlist("tags") if isinstance(t, str)],
                                     spaces=True), alts=alts, schedule_at=when,
                     variants=_variant_change(_variant_fields(form), post) or None)


def _form(request: Request, hub: Hub, view: Any, values: dict[str, Any], *,
          error: HubError | None = None, status: int = 200) -> Response:
    return render(request, "posts/edit.html", {"section": "posts", "view": view,
                                               "values": values, "error": error and
                                               error.message,
                                               "error_field": getattr(error, "field", None),
                                               "networks": _networks(hub, view.post)},
                  status=status)


@router.get("/posts/{post_id}/edit")
async def edit_form(post_id: str, request: Request, hub: HubDep, owner: Owner) -> Response:
    view = await run_in_threadpool(get_post, hub, post_id)
    p = view.post
    return _form(request, hub, view, {
        "text": p.text, "content_warning": p.content_warning or "",
        "language": p.language or "", "tags": " ".join(p.tags),
        "alts": {m.sha256: m.alt for m in p.media},
        "variants": {v.key: v.text for v in p.variants}})


@router.post("/posts/{post_id}/edit")
async def edit_preview(post_id: str, request: Request, hub: HubDep, owner: Owner,
                       form: CsrfForm) -> Response:
    view = await run_in_threadpool(get_post, hub, post_id)
    values: dict[str, Any] = {k: form.get(k) or "" for k in (
        "text", "content_warning", "language", "tags", "schedule_at", "tz")}
    values["alts"] = dict(zip(form.getlist("media"), form.getlist("media_alt"), strict=False))
    values["variants"] = _variant_fields(form)
    try:
        change = _change(form, view.post)
        plan = await run_in_threadpool(plan_edit, hub, post_id, change, Author())
        if form.get("action") == "confirm":
            await edit_post(hub, post_id, change, Author(), confirm=str(form.get("confirm")))
            return redirect(request, f"/posts/{post_id}", flash=_summary(plan))
    except HubError as exc:
        return _form(request, hub, view, values, error=exc, status=exc.status)
    return render(request, "posts/edit_preview.html", {"section": "posts", "view": view,
                                                       "plan": plan, "values": values})


def _summary(plan: Any) -> str:
    gone = [c.target for c in plan.retracted]
    waiting = [c.target for c in plan.copies if c.action == "hold"]
    changing = [c.target for c in plan.copies if c.action in ("edit", "replace", "correct")]
    words = [f"Edited (version {plan.version})."]
    if changing:
        words.append("Being changed by the workers: " + ", ".join(changing) +
                     " (this page shows their progress).")
    if gone:
        words.append("Retracted, now denied: " + ", ".join(gone) + ".")
    if waiting:
        words.append("Waiting for approval: " + ", ".join(waiting) + ".")
    return " ".join(words)


@router.post("/posts/{post_id}/edits/approve")
async def edits_approve(post_id: str, request: Request, hub: HubDep, owner: Owner,
                        form: CsrfForm) -> Response:
    await approve_edits(hub, post_id)
    return redirect(request, f"/posts/{post_id}",
                    flash="Held edits approved: the workers change those copies now.")


@router.post("/deliveries/{delivery_id}/cancel")
async def delivery_cancel(delivery_id: str, request: Request, hub: HubDep, owner: Owner,
                          form: CsrfForm) -> Response:
    view = await run_in_threadpool(cancel_delivery, hub, delivery_id, Author())
    return redirect(request, f"/posts/{view.post.id}", flash="Cancelled before it went out.")
