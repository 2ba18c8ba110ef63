"""Crafted input gets a 422 with a reason before any route sees it, never a 500.

One guard for every route: a NUL character in the path, the query or a form or JSON body
(PostgreSQL cannot store one, and no text needs one); JSON nested deeper than
``MAX_JSON_DEPTH`` (Python's parser would hit its recursion limit) or with a number longer than
``MAX_NUMBER_DIGITS`` (Python refuses to convert over 4,300 digits). It runs inside the body
size limit, so the body it reads is already bounded. Values that reach the database are also
checked there (``hub.store.db``): NULs and column lengths, for every way in.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_DEPTH = 32
MAX_NUMBER_DIGITS = 100
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NUL_ESCAPE = re.compile(rb'(?:^|[^\\])(?:\\\\)*\\u0000')
_LONG_NUMBER = re.compile(rb"\d{%d,}" % (MAX_NUMBER_DIGITS + 1))
_BRACKETS = re.compile(rb"[\[\]{}]")


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_json(body: bytes) -> None:
    """Raise ``_Refused`` for NULs, deep nesting or over-long numbers in a JSON body."""
    if b"\x00" in body or _NUL_ESCAPE.search(body):
        raise _Refused("the body contains a NUL character (\\u0000), which text may not hold")
    bare = _STRING.sub(b'""', body)
    if _LONG_NUMBER.search(bare):
        raise _Refused(f"numbers may have at most {MAX_NUMBER_DIGITS} digits")
    depth = 0
    for bracket in _BRACKETS.findall(bare):
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > MAX_JSON_DEPTH:
            raise _Refused(f"JSON may be nested at most {MAX_JSON_DEPTH} levels deep")


def check_form(body: bytes) -> None:
    if b"\x00" in body or b"%00" in body:
        raise _Refused("the form contains a NUL character (%00), which text may not hold")


class InputGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
            if b"\x00" in raw_path or b"%00" in raw_path or "\x00" in scope["path"]:
                raise _Refused("the address contains a NUL character (%00)")
            query: bytes = scope.get("query_string", b"")
            if b"\x00" in query or b"%00" in query:
                raise _Refused("the query contains a NUL character (%00)")
            kind = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
            check = (check_json if kind == "application/json" or kind.endswith("+json")
                     else check_form if kind == "application/x-www-form-urlencoded" else None)
            if check is not None:
                receive = await _checked_body(receive, check)
        except _Refused as exc:
            response = JSONResponse({"error": "InvalidInput", "detail": exc.reason},
                                    status_code=422)
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


async def _checked_body(receive: Receive, check: Any) -> Receive:
    """Read the whole (already size-limited) body, check it, and replay it to the app."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return _replay([message], receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    check(body)
    return _replay([{"type": "http.request", "body": body, "more_body": False}], receive)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
