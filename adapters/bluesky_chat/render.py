"""A post as a Bluesky chat message: at most 1,000 graphemes and 10,000 bytes, links, tags and
known mentions as facets at UTF-8 byte offsets, the content warning as a first line. Pure."""

from __future__ import annotations

from adapters.bluesky import facets as rich
from adapters.bluesky_chat.spec import BlueskyChatOptions
from hub.domain.model import IdentityKind, PeopleSnapshot, Post, Target
from hub.errors import ContentRejected
from hub.ports import JSON, Recipient

MAX_GRAPHEMES, MAX_BYTES = 1000, 10_000       # chat.bsky.convo.defs#messageInput


def message(post: Post, target: Target) -> dict[str, JSON]:
    """``messageInput``: text and facets; ContentRejected when it does not fit one message."""
    if post.media:
        raise ContentRejected(f"{target.name}: Bluesky chat messages cannot carry images",
                              target=target.name)
    text = post.text
    if post.tags:
        text += "\n\n" + " ".join(f"#{t}" for t in post.tags)
    if post.content_warning:
        text = f"Content warning: {post.content_warning}\n\n{text}"
    count = rich.graphemes(text)
    if count > MAX_GRAPHEMES or rich.utf8_len(text) > MAX_BYTES:
        raise ContentRejected(f"{target.name}: a Bluesky chat message holds {MAX_GRAPHEMES} "
                              f"graphemes ({MAX_BYTES} bytes); this one needs {count}",
                              target=target.name)
    found, _pending = rich.detect(text, {})   # unresolved @mentions stay plain text
    message: dict[str, JSON] = {"text": text}
    if found:
        message["facets"] = list(found)
    return message


def members(options: BlueskyChatOptions, people: PeopleSnapshot, target: Target
            ) -> tuple[tuple[Recipient, ...], tuple[str, ...]]:
    """The list's members by Bluesky identity (a DID, else the handle), and notes for the rest.
    Refuses a list larger than the group can hold."""
    found, notes = [], []
    for person in people.members(options.list):
        values = [i.value for i in person.identities if i.kind is IdentityKind.BLUESKY]
        value = next((v for v in values if v.startswith("did:")), values[0] if values else None)
        if value is None:
            notes.append(f"{person.name} has no Bluesky identity: not in the group")
        else:
            found.append(Recipient(person.id, person.name, value, options.list))
    if len(found) + 1 > options.member_limit:
        raise ContentRejected(f"{target.name}: list {options.list!r} has {len(found)} people on "
                              f"Bluesky; a group holds {options.member_limit} with you",
                              target=target.name)
    return tuple(found), tuple(notes)
