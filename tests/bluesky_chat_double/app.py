"""A stateful double of a PDS that proxies the Bluesky chat service, for the hub's tests: the
few XRPC methods the ``bluesky-chat`` adapter calls, every request and response checked against
the vendored lexicons (a violation answers 500 and is recorded in ``World.violations``), the
``atproto-proxy`` header required on ``chat.bsky.*``, and faults a test can script.

The local reference PDS runs no chat service, so this is what the tests talk to (as the
Mastodon double stands in for Mastodon, checked against its published contract).
"""

from __future__ import annotations

import itertools
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.bluesky_chat_double import lexicon

PROXY = "did:web:api.bsky.chat#bsky_chat"


@dataclass
class Account:
    did: str
    handle: str
    password: str
    accepts_groups: bool = True


@dataclass
class Convo:
    id: str
    name: str
    owner: str
    members: dict[str, str]                # did -> "accepted" | "request"
    messages: list[dict[str, Any]] = field(default_factory=list)
    created: str = ""


@dataclass
class World:
    accounts: dict[str, Account] = field(default_factory=dict)      # did -> account
    sessions: dict[str, str] = field(default_factory=dict)          # token -> did
    convos: dict[str, Convo] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    # scripted faults, consumed in order: (nsid, status, body, perform_first)
    faults: deque[tuple[str, int, dict[str, Any], bool]] = field(default_factory=deque)
    member_limit: int = 100
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def account(self, handle: str) -> Account:
        did = f"did:plc:{secrets.token_hex(12)}"
        self.accounts[did] = Account(did, handle, secrets.token_urlsafe(12))
        return self.accounts[did]

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str = "") -> None:
        super().__init__(error)
        self.status, self.error, self.message = status, error, message


def create_app(world: World) -> Starlette:
    def profile(did: str) -> dict[str, Any]:
        return {"did": did, "handle": world.accounts[did].handle}

    def convo_view(c: Convo, viewer: str) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": c.id, "rev": world.next_id("rev"),
            "members": [profile(d) for d in list(c.members)[:5]], "muted": False,
            "unreadCount": 0, "status": c.members.get(viewer, "accepted"),
            "kind": {"$type": "chat.bsky.convo.defs#groupConvo", "createdAt": c.created,
                     "lockStatus": "unlocked", "lockStatusModerationOverride": False,
                     "memberCount": len(c.members), "memberLimit": world.member_limit,
                     "name": c.name}}
        if c.messages:
            view["lastMessage"] = {"$type": "chat.bsky.convo.defs#messageView",
                                   **c.messages[-1]}
        return view

    def member_of(viewer: str, convo_id: str) -> Convo:
        c = world.convos.get(convo_id)
        if c is None or viewer not in c.members:
            raise XrpcError(400, "InvalidConvo", "no such conversation")
        return c

    def add(c: Convo, dids: list[str]) -> None:
        for did in dids:
            account = world.accounts.get(did)
            if account is None:
                raise XrpcError(400, "RecipientNotFound", did)
            if not account.accepts_groups:
                raise XrpcError(400, "UserForbidsGroups", did)
        if len(set(c.members) | set(dids)) > world.member_limit:
            raise XrpcError(400, "MemberLimitReached", "")
        for did in dids:
            c.members.setdefault(did, "request")

    def handle(nsid: str, viewer: str, params: dict[str, Any], body: Any) -> Any:
        if nsid == "com.atproto.identity.resolveHandle":
            found = [a.did for a in world.accounts.values() if a.handle == params["handle"]]
            if not found:
                raise XrpcError(400, "HandleNotFound", "Unable to resolve handle")
            return {"did": found[0]}
        if nsid == "chat.bsky.convo.listConvos":
            mine = [c for c in world.convos.values() if viewer in c.members]
            start = int(params.get("cursor") or 0)
            limit = int(params.get("limit") or 50)
            page = mine[start:start + limit]
            out: dict[str, Any] = {"convos": [convo_view(c, viewer) for c in page]}
            if start + limit < len(mine):
                out["cursor"] = str(start + limit)
            return out
        if nsid == "chat.bsky.group.createGroup":
            c = Convo(world.next_id("convo"), body["name"], viewer, {viewer: "accepted"},
                      created=_now())
            add(c, [d for d in body["members"] if d != viewer])
            world.convos[c.id] = c
            return {"convo": convo_view(c, viewer)}
        if nsid == "chat.bsky.convo.getConvo":
            return {"convo": convo_view(member_of(viewer, params["convoId"]), viewer)}
        if nsid == "chat.bsky.convo.getConvoMembers":
            c = member_of(viewer, params["convoId"])
            dids = list(c.members)
            start, limit = int(params.get("cursor") or 0), int(params.get("limit") or 50)
            out = {"members": [profile(d) for d in dids[start:start + limit]]}
            if start + limit < len(dids):
                out["cursor"] = str(start + limit)
            return out
        if nsid == "chat.bsky.group.addMembers":
            c = member_of(viewer, body["convoId"])
            if c.owner != viewer:
                raise XrpcError(400, "InsufficientRole", "")
            new = [d for d in body["members"] if d not in c.members]
            add(c, new)
            return {"convo": convo_view(c, viewer), "addedMembers": [profile(d) for d in new]}
        if nsid == "chat.bsky.group.removeMembers":
            c = member_of(viewer, body["convoId"])
            if c.owner != viewer:
                raise XrpcError(400, "InsufficientRole", "")
            for did in body["members"]:
                c.members.pop(did, None)
            return {"convo": convo_view(c, viewer)}
        if nsid == "chat.bsky.convo.sendMessage":
            c = member_of(viewer, body["convoId"])
            message = {"id": world.next_id("msg"), "rev": world.next_id("rev"),
                       "text": body["message"]["text"], "sender": {"did": viewer},
                       "sentAt": _now()}
            if body["message"].get("facets"):
                message["facets"] = body["message"]["facets"]
            c.messages.append(message)
            return message
        if nsid == "chat.bsky.convo.getMessages":
            c = member_of(viewer, params["convoId"])
            limit = int(params.get("limit") or 50)
            return {"messages": [{"$type": "chat.bsky.convo.defs#messageView", **m}
                                 for m in reversed(c.messages[-limit:])]}
        raise XrpcError(501, "MethodNotImplemented", nsid)

    async def xrpc(request: Request) -> Response:
        nsid = request.path_params["nsid"]
        world.calls.append(nsid)
        main = lexicon.method(nsid) if (lexicon.ROOT / (nsid.replace(".", "/") + ".json")
                                         ).exists() else None
        if main is None:
            return JSONResponse({"error": "MethodNotImplemented"}, status_code=501)
        expected = "GET" if main["type"] == "query" else "POST"
        if request.method != expected:
            return _violation(world, f"{nsid}: {request.method}, the lexicon says {expected}")
        params = _params(request, main)
        body = await request.json() if expected == "POST" else None
        found = lexicon.problems(nsid, "parameters", params) + (
            lexicon.problems(nsid, "input", body) if expected == "POST" else [])
        if found:
            world.violations.extend(found)
            return JSONResponse({"error": "InvalidRequest", "message": "; ".join(found)},
                                status_code=400)
        if nsid == "com.atproto.server.createSession":
            return _login(world, body)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        viewer = world.sessions.get(token)
        if viewer is None:
            return JSONResponse({"error": "InvalidToken", "message": "Bad token"},
                                status_code=401)
        if nsid.startswith("chat.bsky.") and request.headers.get("atproto-proxy") != PROXY:
            return _violation(world, f"{nsid} without atproto-proxy: {PROXY}")
        fault = world.faults[0] if world.faults and world.faults[0][0] == nsid else None
        if fault is not None:
            world.faults.popleft()
            if not fault[3]:
                return JSONResponse(fault[2], status_code=fault[1])
        try:
            out = handle(nsid, viewer, params, body)
        except XrpcError as exc:
            if exc.error not in lexicon.errors_of(nsid) | {"InvalidRequest"}:
                world.violations.append(f"{nsid}: error {exc.error} is not in its lexicon")
            return JSONResponse({"error": exc.error, "message": exc.message},
                                status_code=exc.status)
        if fault is not None:     # done, but the answer is lost: the outcome is unknown
            return JSONResponse(fault[2], status_code=fault[1])
        bad = lexicon.problems(nsid, "output", out)
        if bad:
            return _violation(world, "; ".join(bad))
        return JSONResponse(out)

    return Starlette(routes=[Route("/xrpc/{nsid}", xrpc, methods=["GET", "POST"])])


def _params(request: Request, main: dict[str, Any]) -> dict[str, Any]:
    spec = (main.get("parameters") or {}).get("properties", {})
    out: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        kind = (spec.get(key) or {}).get("type")
        if kind == "array":
            out[key] = values
        elif kind == "integer":
            out[key] = int(values[-1]) if values[-1].lstrip("-").isdigit() else values[-1]
        elif kind == "boolean":
            out[key] = values[-1] == "true"
        else:
            out[key] = values[-1]
    return out


def _login(world: World, body: dict[str, Any]) -> Response:
    ident = body["identifier"]
    account = world.accounts.get(ident) or next(
        (a for a in world.accounts.values() if a.handle == ident), None)
    if account is None or account.password != body["password"]:
        return JSONResponse({"error": "AuthenticationRequired",
                             "message": "Invalid identifier or password"}, status_code=401)
    token = secrets.token_urlsafe(16)
    world.sessions[token] = account.did
    out = {"accessJwt": token, "refreshJwt": secrets.token_urlsafe(16), "handle": account.handle,
           "did": account.did}
    bad = lexicon.problems("com.atproto.server.createSession", "output", out)
    return _violation(world, "; ".join(bad)) if bad else JSONResponse(out)


def _violation(world: World, why: str) -> Response:
    world.violations.append(why)
    return JSONResponse({"error": "InternalServerError", "message": why}, status_code=500)
