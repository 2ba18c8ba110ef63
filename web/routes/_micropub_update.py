"""Micropub ``action=update`` (W3C Micropub 3.3) through the hub's edit service: ``replace``,
``add`` and ``delete`` of the properties the hub can change on a post."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from hub.errors import InvalidInput
from hub.runtime import Hub
from hub.services.edits import EditInput, edit_post, plan_edit
from hub.services.posts import get_post
from hub.services.tokens import TokenIdentity
from web.routes import _micropub_entry as entry

_EDITABLE = {"content", "category", "summary", "content-warning", "mp-lang"}


async def update(hub: Hub, post_id: str, token: TokenIdentity, req: entry.Request
                 ) -> dict[str, Any]:
    """``action=update`` through the hub's edit service: ``replace``, ``add`` and ``delete``
    of content, category, summary / content-warning and mp-lang; each copy is then changed the
    way its network allows (``hub.services.edits``)."""
    touched = set(req.replace) | set(req.add) | set(req.remove) | set(req.remove_all)
    if not touched:
        raise InvalidInput("the update changes nothing: give replace, add or delete")
    other = sorted(touched - _EDITABLE)
    if other:
        raise InvalidInput(f"the hub cannot update {', '.join(other)}: only "
                           f"{', '.join(sorted(_EDITABLE))}")
    view = await run_in_threadpool(get_post, hub, post_id)
    tags = list(view.post.tags)
    if "category" in req.replace:
        tags = [str(t) for t in req.replace["category"]]
    tags += [str(t) for t in req.add.get("category", []) if str(t) not in tags]
    tags = [] if "category" in req.remove_all else [
        t for t in tags if t not in {str(v) for v in req.remove.get("category", [])}]
    change = EditInput(
        text=_text_of(req.replace.get("content")),
        tags=tags if tags != list(view.post.tags) else None,
        content_warning="" if {"summary", "content-warning"} & set(req.remove_all) else
        _text_of(req.replace.get("summary") or req.replace.get("content-warning")),
        language=_text_of(req.replace.get("mp-lang")))
    plan = await run_in_threadpool(plan_edit, hub, post_id, change, token.author)
    result = await edit_post(hub, post_id, change, token.author, confirm=plan.digest)
    return result.as_json()


def _text_of(values: list[Any] | None) -> str | None:
    if not values:
        return None
    first = values[0]
    if isinstance(first, dict):
        return str(first.get("value") or entry.html_to_text(str(first.get("html") or "")))
    return str(first)
