"""Compose: the form, its live preview (per target: decision, rendering, reach), and sending."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import regex
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from hub.errors import HubError, InvalidInput
from hub.media import load_media, store_media
from hub.runtime import Hub
from hub.services.drafts import (
    MAX_IMAGES,
    Author,
    MediaRef,
    PendingImage,
    PostInput,
    check_image_count,
    split_list,
)
from hub.services.posts import submit_post
from hub.services.preview import Preview, facts_of, preview_post
from hub.services.saved_drafts import forget_sent
from hub.services.send_report import SendReport, report_from_preview, report_from_view
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render

router = APIRouter(include_in_schema=False)
_SIGNATURES = ((b"\x89PNG", "image/png"), (b"\xff\xd8", "image/jpeg"), (b"GIF8", "image/gif"),
               (b"RIFF", "image/webp"))


@dataclass
class ComposeForm:
    """The form exactly as typed, so a refused post comes back with nothing lost."""

    text: str = ""
    audiences: list[str] = field(default_factory=list)
    tags: str = ""
    content_warning: str = ""
    language: str = ""
    schedule_at: str = ""
    tz: str = "UTC"
    media: list[tuple[str, str]] = field(default_factory=list)   # (sha256, alt) uploaded
    parts: list[str] = field(default_factory=list)      # the thread after the text: part 2…
    variants: dict[str, str] = field(default_factory=dict)   # network -> its own text
    draft_id: str = ""      # the saved draft this was resumed from (sent: it is removed)

    @classmethod
    def from_form(cls, form: FormData) -> ComposeForm:
        def text(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        shas = [v for v in form.getlist("media") if isinstance(v, str)]
        alts = [v for v in form.getlist("media_alt") if isinstance(v, str)]
        removed = {v for v in form.getlist("media_remove") if isinstance(v, str)}
        media = [(sha, alts[i] if i < len(alts) else "") for i, sha in enumerate(shas)
                 if regex.fullmatch(r"[0-9a-f]{64}", sha) and sha not in removed]
        return cls(text=text("text"), audiences=[v for v in form.getlist("audiences")
                                                  if isinstance(v, str)],
                   tags=text("tags"), content_warning=text("content_warning"),
                   language=text("language"), schedule_at=text("schedule_at"),
                   tz=text("tz") or "UTC", media=media[:MAX_IMAGES],
                   parts=[v for v in form.getlist("thread_part") if isinstance(v, str)],
                   variants={key[9:-1]: value for key, value in form.multi_items()
                             if key.startswith("variants[") and key.endswith("]")
                             and isinstance(value, str)},
                   draft_id=text("draft_id")[:40])

    def to_input(self) -> PostInput:
        parts = [p for p in self.parts if p.strip()]
        return PostInput(
            text="" if parts else self.text, audiences=self.audiences,
            tags=split_list([self.tags], spaces=True),
            content_warning=self.content_warning, language=self.language,
            schedule_at=self._when(), media=[MediaRef(sha, alt) for sha, alt in self.media],
            thread=[self.text, *parts] if parts else (),
            variants={k: v for k, v in self.variants.items() if v.strip()})

    def _when(self) -> datetime | None:
        if not self.schedule_at.strip():
            return None
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, OSError):   # OSError: a folder, too long
            raise InvalidInput(f"unknown time zone {self.tz!r}", field="schedule_at") from None
        try:
            when = datetime.fromisoformat(self.schedule_at.strip())
        except ValueError:
            raise InvalidInput("the send-later time is not a date and time like "
                               "2026-12-01T09:00", field="schedule_at") from None
        return when.replace(tzinfo=zone) if when.tzinfo is None else when


def _pending(form: FormData) -> list[PendingImage]:
    """Images chosen in the browser but not uploaded yet (sent by the live preview)."""
    kinds = [v for v in form.getlist("pending_type") if isinstance(v, str)]
    alts = [v for v in form.getlist("pending_alt") if isinstance(v, str)]
    sizes = [v for v in form.getlist("pending_size") if isinstance(v, str)]
    return [PendingImage(kind[:100] or "image/jpeg", alts[i] if i < len(alts) else "",
                         int(sizes[i]) if i < len(sizes) and sizes[i].isdigit() else 0)
            for i, kind in enumerate(kinds[:MAX_IMAGES])]


def _upload_new(hub: Hub, form: FormData, draft: ComposeForm) -> None:
    """Store newly attached images; they stay attached if the post is then refused."""
    files = form.getlist("image")
    alts = [v for v in form.getlist("image_alt") if isinstance(v, str)]
    for i, upload in enumerate(files):
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        data = upload.file.read()
        if not data:
            continue
        check_image_count(len(draft.media) + 1)
        row = store_media(hub, data)
        draft.media.append((row.sha256, alts[i] if i < len(alts) else ""))


def _page(request: Request, hub: Hub, draft: ComposeForm, preview: Preview | None,
          error: HubError | None = None, status: int = 200,
          confirm: SendReport | None = None) -> Response:
    policy = hub.policies.current
    networks = [(name, facts_of(hub, name).display_name)
                for name in dict.fromkeys(t.platform for t in policy.targets.values())]
    return render(request, "compose/form.html", {
        "section": "compose", "form": draft, "preview": preview, "confirm": confirm,
        "audiences": list(policy.audiences.values()), "networks": networks,
        "too_long": preview.too_long_for if preview else (),
        "counters": preview.part_counters() if preview else [],
        "max_body": hub.settings.max_upload_bytes, "max_images": MAX_IMAGES,
        "error": error.message if error else "",
        "error_field": getattr(error, "field", None) if error else None,
    }, status=status)


@router.get("/")
async def home(owner: Owner, request: Request) -> Response:
    return redirect(request, "/compose")


@router.get("/compose")
async def compose_form(request: Request, hub: HubDep, owner: Owner) -> Response:
    return _page(request, hub, ComposeForm(), None)


@router.post("/compose/preview")
def compose_preview(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    """The preview panel alone, for the page's script to swap in while the owner types."""
    draft = ComposeForm.from_form(form)
    try:
        preview = preview_post(hub, draft.to_input(), Author(), pending=_pending(form))
    except InvalidInput as exc:
        preview = Preview(problem=exc.message, problem_field=exc.field)
    return render(request, "compose/_preview.html", {"preview": preview})


@router.post("/compose")
def compose_submit(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    """Send (or, with the Preview button, show the preview without JavaScript).

    When the preview already knows a target cannot carry the post, or that nothing would go out,
    the page asks first: send to the others, fix, or cancel."""
    draft = ComposeForm.from_form(form)
    preview: Preview | None = None
    action = form.get("action")
    try:
        _upload_new(hub, form, draft)
        data = draft.to_input()
        if action in ("preview", "add-part"):   # add-part: one more thread part (no script)
            if action == "add-part":
                draft.parts.append("")
            return _page(request, hub, draft, preview_post(hub, data, Author()))
        preview = preview_post(hub, data, Author())
        report = report_from_preview(preview)
        if not preview.problem and report.needs_confirmation and not (
                action == "send-others" and report.deliverable):
            return _page(request, hub, draft, preview, confirm=report)
        view = submit_post(hub, data, Author())
        if draft.draft_id:
            forget_sent(hub, draft.draft_id, Author())   # a resumed draft, now sent
    except HubError as exc:
        try:
            preview = preview_post(hub, draft.to_input(), Author())
        except HubError:
            preview = None
        return _page(request, hub, draft, preview, exc, status=exc.status)
    sent = report_from_view(view)
    message = ("Scheduled." if view.status == "scheduled" else
               "Waiting for your approval." if view.status == "awaiting approval" else "Sent.")
    if sent.warnings:
        return redirect(request, f"/posts/{view.post.id}", flash=sent.summary + ".",
                        kind="warn" if sent.deliverable else "bad")
    return redirect(request, f"/posts/{view.post.id}", flash=message)


@router.get("/media/{sha256}")
async def media_file(sha256: str, hub: HubDep, owner: Owner) -> Response:
    data = await run_in_threadpool(load_media, hub, sha256)
    kind = next((mime for magic, mime in _SIGNATURES if data.startswith(magic)),
                "application/octet-stream")
    return Response(data, media_type=kind, headers={
        "Cache-Control": "private, max-age=3600", "Content-Security-Policy": "default-src 'none'"})
