"""A post as Matrix ``m.room.message`` content: plain ``body`` and HTML ``formatted_body``,
content warnings as spoilers, images with their alt text as ``body``. Pure: no network.
"""

from __future__ import annotations

import html
import json
import re

from adapters.matrix.spec import MatrixOptions
from hub.domain.model import IdentityKind, Media, PeopleSnapshot, Post, Target
from hub.errors import ContentRejected
from hub.ports import JSON, Recipient

# A whole event (PDU) may be at most 65,536 bytes; keep room for the envelope Synapse adds.
MAX_CONTENT_BYTES = 60_000
HTML_FORMAT = "org.matrix.custom.html"
_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]']")


def message(post: Post) -> dict[str, JSON]:
    """The ``m.text`` content for the post's text (and tags, and content warning)."""
    tags = " ".join(f"#{t}" for t in post.tags)
    plain = post.text + (f"\n\n{tags}" if tags else "")
    rich = _html(post.text) + (f"<br/><br/>{html.escape(tags)}" if tags else "")
    if post.content_warning:
        cw = post.content_warning
        plain = f"Content warning: {cw}\n\n{plain}"
        rich = (f"<p><strong>Content warning:</strong> {html.escape(cw)}</p>"
                f'<span data-mx-spoiler="{html.escape(cw, quote=True)}">{rich}</span>')
    return {"msgtype": "m.text", "body": plain, "format": HTML_FORMAT, "formatted_body": rich}


def image(media: Media, index: int) -> dict[str, JSON]:
    """The ``m.image`` content for one attached image, without its ``url`` (known after the
    upload). ``body`` carries the alt text, as the spec asks for accessibility."""
    ext = media.mime_type.rsplit("/", 1)[-1].replace("jpeg", "jpg")
    return {"msgtype": "m.image", "body": media.alt or "image",
            "filename": f"image-{index + 1}.{ext}",
            "info": {"mimetype": media.mime_type, "size": media.size}}


def content_bytes(content: dict[str, JSON]) -> int:
    return len(json.dumps(content, ensure_ascii=False).encode())


def check(post: Post, target: Target) -> dict[str, JSON]:
    """The text content, or ContentRejected if Matrix cannot carry it in one event."""
    content = message(post)
    size = content_bytes(content)
    if size > MAX_CONTENT_BYTES:
        raise ContentRejected(f"{target.name}: a Matrix message holds about "
                              f"{MAX_CONTENT_BYTES} bytes of text and HTML; this post needs "
                              f"{size}", target=target.name)
    return content


def invitees(options: MatrixOptions, people: PeopleSnapshot
             ) -> tuple[tuple[Recipient, ...], tuple[str, ...]]:
    """For a kept room: the list's members by Matrix identity, and notes for those without."""
    if not options.list:
        return (), ()
    found, notes = [], []
    for person in people.members(options.list):
        ident = person.identity(IdentityKind.MATRIX)
        if ident is None:
            notes.append(f"{person.name} has no Matrix identity: not invited to the room")
        else:
            found.append(Recipient(person.id, person.name, ident.value, options.list))
    return tuple(found), tuple(notes)


def _html(text: str) -> str:
    out, last = [], 0
    for m in _URL.finditer(text):
        out.append(html.escape(text[last:m.start()]))
        url = html.escape(m.group(0), quote=True)
        out.append(f'<a href="{url}">{url}</a>')
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out).replace("\r\n", "\n").replace("\n", "<br/>")
