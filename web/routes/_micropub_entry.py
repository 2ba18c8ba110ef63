"""Reading a Micropub request (W3C Micropub, 2017) into one shape: form-encoded, multipart and
JSON h-entry bodies alike. Pure: no hub, no I/O; the route decides what the values mean."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from hub.errors import InvalidInput


@dataclass(frozen=True)
class Photo:
    """A photo by URL (from the media endpoint) or uploaded in the request itself."""

    url: str | None = None
    data: bytes | None = field(default=None, repr=False)
    alt: str = ""


@dataclass(frozen=True)
class Request:
    """What a Micropub POST asks for, whichever encoding it came in."""

    action: str = "create"                  # create | delete | update | undelete
    url: str | None = None                  # the post an action applies to
    type: str = "entry"
    content: str = ""
    name: str = ""
    categories: tuple[str, ...] = ()
    syndicate_to: tuple[str, ...] = ()
    photos: tuple[Photo, ...] = ()
    published: str | None = None
    summary: str | None = None
    visibility: str | None = None
    language: str | None = None
    access_token: str | None = field(default=None, repr=False)
    # action=update (JSON only, W3C Micropub 3.3): property -> values
    replace: dict[str, list[Any]] = field(default_factory=dict)
    add: dict[str, list[Any]] = field(default_factory=dict)
    remove: dict[str, list[Any]] = field(default_factory=dict)   # values to remove
    remove_all: tuple[str, ...] = ()                              # properties to remove


def from_form(items: list[tuple[str, Any]]) -> Request:
    """Form-encoded or multipart fields, in order (``category[]`` repeats; files are objects
    with ``read()`` done by the caller, passed as bytes)."""
    values: dict[str, list[Any]] = {}
    for key, value in items:
        values.setdefault(key.removesuffix("[]"), []).append(value)
    text = {k: [v for v in vs if isinstance(v, str)] for k, vs in values.items()}
    alts = text.get("mp-photo-alt", [])
    photos = []
    for i, value in enumerate(values.get("photo", [])):
        alt = alts[i] if i < len(alts) else ""
        photos.append(Photo(data=value, alt=alt) if isinstance(value, bytes)
                      else Photo(url=str(value), alt=alt))
    return Request(
        action=_one(text, "action") or "create", url=_one(text, "url"),
        type=_one(text, "h") or "entry", content=_one(text, "content") or "",
        name=_one(text, "name") or "", categories=_strings(text.get("category", [])),
        syndicate_to=_strings(text.get("mp-syndicate-to", [])), photos=tuple(photos),
        published=_one(text, "published"), summary=_one(text, "summary")
        or _one(text, "content-warning"), visibility=_one(text, "visibility"),
        language=_one(text, "mp-lang") or _one(text, "lang"),
        access_token=_one(text, "access_token"))


def from_json(body: bytes) -> Request:
    try:
        doc = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidInput("the body must be a JSON object (an h-entry or an action)")
    if "action" in doc:
        action, url = doc.get("action"), doc.get("url")
        if not isinstance(action, str) or not isinstance(url, str):
            raise InvalidInput("an action needs 'action' and 'url' as strings")
        if action != "update":
            return Request(action=action, url=url)
        replace, add = _changes(doc, "replace"), _changes(doc, "add")
        removal = doc.get("delete", [])
        if isinstance(removal, list) and all(isinstance(p, str) for p in removal):
            return Request(action=action, url=url, replace=replace, add=add,
                           remove_all=tuple(removal))
        return Request(action=action, url=url, replace=replace, add=add,
                       remove=_changes(doc, "delete"))
    types = doc.get("type")
    props = doc.get("properties")
    if not isinstance(types, list) or not types or not isinstance(props, dict):
        raise InvalidInput("a JSON create needs 'type' (e.g. [\"h-entry\"]) and 'properties'")
    kind = str(types[0])
    for key, value in props.items():
        if not isinstance(value, list):
            raise InvalidInput(f"property {key!r} must be an array of values")
    photos = tuple(_photo(v) for v in props.get("photo", []))
    return Request(
        type=kind.removeprefix("h-"), content=_content(props.get("content", [])),
        name=_first_text(props, "name") or "",
        categories=_strings([c for c in props.get("category", []) if isinstance(c, str)]),
        syndicate_to=_strings([*props.get("mp-syndicate-to", []),
                               *_list(doc.get("mp-syndicate-to"))]),
        photos=photos, published=_first_text(props, "published"),
        summary=_first_text(props, "summary") or _first_text(props, "content-warning"),
        visibility=_first_text(props, "visibility"),
        language=_first_text(props, "mp-lang") or _first_text(props, "lang"))


def _changes(doc: dict[str, Any], key: str) -> dict[str, list[Any]]:
    value = doc.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        raise InvalidInput(f"'{key}' must map each property to an array of values")
    return {str(k): list(v) for k, v in value.items()}


def html_to_text(html: str) -> str:
    """The readable text of an HTML fragment (paragraphs and line breaks kept as newlines)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.out).strip()


class _Text(HTMLParser):
    _BLOCKS = {"p", "div", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("\n")
        elif tag in self._BLOCKS and self.out and not "".join(self.out).endswith("\n\n"):
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def _content(values: list[Any]) -> str:
    if not values:
        return ""
    first = values[0]
    if isinstance(first, str):
        return first
    if isinstance(first, dict):
        if isinstance(first.get("value"), str):
            return str(first["value"])
        if isinstance(first.get("html"), str):
            return html_to_text(first["html"])
    raise InvalidInput("content must be a string or {\"html\": …} / {\"value\": …}")


def _photo(value: Any) -> Photo:
    if isinstance(value, str):
        return Photo(url=value)
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        alt = value.get("alt")
        return Photo(url=value["value"], alt=alt if isinstance(alt, str) else "")
    raise InvalidInput("a photo must be a URL or {\"value\": URL, \"alt\": text}")


def _first_text(props: dict[str, Any], key: str) -> str | None:
    values = props.get(key) or []
    return values[0] if values and isinstance(values[0], str) else None


def _one(values: dict[str, list[str]], key: str) -> str | None:
    found = values.get(key) or []
    return found[-1] if found and found[-1] != "" else None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _strings(values: list[Any]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        for item in str(v).split(","):
            item = item.strip().lstrip("#")
            if item and item not in out:
                out.append(item)
    return tuple(out)
