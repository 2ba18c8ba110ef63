"""Sending a post to a Bluesky group chat exactly once per delivery.

The chat API has no idempotency key. The conversation and the sent message's id are durable
steps; before sending, the hub records that it is about to try, so a retry whose outcome is
unknown (the worker died, or the answer was lost) first reads the conversation's recent
messages and adopts ours (same sender and text, sent since the try) instead of sending again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from adapters.bluesky.facets import detect, graphemes
from adapters.bluesky_chat import render
from adapters.bluesky_chat.client import Xrpc
from adapters.bluesky_chat.spec import BlueskyChatOptions
from hub.domain.model import PeopleSnapshot, Post, Target
from hub.errors import ContentRejected, PermanentDeliveryError
from hub.ports import JSON, Draft, Receipt, Steps

_PAGES = 20   # listConvos pages (100 each) searched for the kept group
_SKEW = timedelta(minutes=5)   # our clock against the chat service's sentAt


class BlueskyChatPublisher:
    platform: ClassVar[str] = "bluesky-chat"

    def __init__(self, account: str, xrpc: Xrpc) -> None:
        self.account = account
        self._xrpc = xrpc

    def __repr__(self) -> str:
        return f"BlueskyChatPublisher({self.account!r})"

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        options = BlueskyChatOptions.model_validate(dict(target.options))
        message = render.message(post, target)
        members, notes = render.members(options, people, target)
        payload: dict[str, JSON] = {"name": options.name or f"{options.list} (hub)",
                                    "message": message,
                                    "members": [r.address for r in members]}
        text = str(message["text"])
        return Draft(platform=self.platform, account=self.account, target=target.name,
                     parts=(text,), recipients=members, payload=payload,
                     counter=f"{graphemes(text)}/{render.MAX_GRAPHEMES} graphemes",
                     notes=notes)

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        p = draft.payload
        dids = await self._resolve([str(m) for m in p["members"]] if isinstance(
            p["members"], list) else [])
        convo = await steps.get("convo")
        if convo is None:
            convo = await self._group(str(p["name"]), sorted(dids))
            await steps.record("convo", convo)
        in_group = await self._keep_in_step(convo, set(dids))
        message = p["message"]
        assert isinstance(message, dict)
        message_id = await steps.get("message")
        if message_id is None:
            tried = await steps.get("tried")
            if tried is not None:
                message_id = await self._find_sent(convo, str(message["text"]), tried)
            if message_id is None:
                await steps.record("tried", datetime.now(UTC).isoformat())
                sent = await self._xrpc.procedure("chat.bsky.convo.sendMessage", {
                    "convoId": convo, "message": message}, action="send the message")
                message_id = str(sent["id"])
            await steps.record("message", message_id)
        identities: list[JSON] = [dids[d] for d in sorted(dids) if d in in_group]
        return Receipt(remote_id=f"{convo}/{message_id}", details={
            "convo_id": convo, "message_id": message_id,
            "audience": {"kind": "recipients", "identities": identities,
                         "lower_bound": False, "convo_id": convo}})

    def correction(self, draft: Draft, *, original: Receipt) -> Draft:
        """The new version as a message that says it corrects the earlier one."""
        message = draft.payload["message"]
        assert isinstance(message, dict)
        text = f"Correction of my earlier message:\n\n{message['text']}"
        if graphemes(text) > render.MAX_GRAPHEMES:
            raise ContentRejected(f"{draft.target}: the correction does not fit one message",
                                  target=draft.target)
        found, _ = detect(text, {})
        fixed: dict[str, JSON] = {"text": text, **({"facets": list(found)} if found else {})}
        return Draft(platform=draft.platform, account=draft.account, target=draft.target,
                     parts=(text,), recipients=draft.recipients,
                     payload={**draft.payload, "message": fixed},
                     counter=f"{graphemes(text)}/{render.MAX_GRAPHEMES} graphemes",
                     notes=draft.notes)

    async def delete(self, receipt: Receipt, *, steps: Steps) -> None:
        """A chat message cannot be unsent for the other members; the hub says so."""
        raise PermanentDeliveryError("Bluesky chat messages cannot be unsent for the other "
                                     "members", platform=self.platform)

    async def aclose(self) -> None:
        await self._xrpc.http.aclose()

    async def _resolve(self, identities: list[str]) -> dict[str, str]:
        """DID -> the identity as the hub stores it (handles resolved through the PDS)."""
        found: dict[str, str] = {}
        for ident in identities:
            if ident.startswith("did:"):
                found[ident] = ident
                continue
            body = await self._xrpc.query("com.atproto.identity.resolveHandle",
                                          handle=ident.lstrip("@"),
                                          action=f"resolve {ident}")
            found[str(body["did"])] = ident
        return found

    async def _group(self, name: str, members: list[str]) -> str:
        """The account's group with this name, or a new one with these members."""
        cursor: str | None = None
        for _ in range(_PAGES):
            params: dict[str, Any] = {"kind": "group", "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = await self._xrpc.query("chat.bsky.convo.listConvos",
                                          action="list the group chats", **params)
            for convo in page.get("convos", []):
                kind = convo.get("kind") or {}
                if kind.get("name") == name:
                    return str(convo["id"])
            cursor = page.get("cursor")
            if not cursor:
                break
        made = await self._xrpc.procedure("chat.bsky.group.createGroup",
                                          {"name": name, "members": members},
                                          action=f"create the group {name!r}")
        return str(made["convo"]["id"])

    async def _keep_in_step(self, convo: str, wanted: set[str]) -> set[str]:
        """Add the list's members who are missing, remove those who left it; returns the DIDs
        in the group now (besides the owner)."""
        present: set[str] = set()
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"convoId": convo, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = await self._xrpc.query("chat.bsky.convo.getConvoMembers",
                                          action="read the group's members", **params)
            present |= {str(m["did"]) for m in page.get("members", [])}
            cursor = page.get("cursor")
            if not cursor:
                break
        present.discard(self._xrpc.did or "")
        missing, extra = sorted(wanted - present), sorted(present - wanted)
        if missing:
            await self._xrpc.procedure("chat.bsky.group.addMembers",
                                       {"convoId": convo, "members": missing},
                                       action="add members to the group")
        if extra:
            await self._xrpc.procedure("chat.bsky.group.removeMembers",
                                       {"convoId": convo, "members": extra},
                                       action="remove people who left the list")
        return (present | set(missing)) - set(extra)

    async def _find_sent(self, convo: str, text: str, since: str) -> str | None:
        page = await self._xrpc.query("chat.bsky.convo.getMessages", convoId=convo,
                                      limit=100, action="check the conversation")
        earliest = datetime.fromisoformat(since) - _SKEW
        for message in page.get("messages", []):
            if (message.get("sender") or {}).get("did") != self._xrpc.did or \
                    message.get("text") != text:
                continue
            try:
                sent = datetime.fromisoformat(str(message.get("sentAt")))
            except ValueError:
                continue
            if sent >= earliest:
                return str(message["id"])
        return None
