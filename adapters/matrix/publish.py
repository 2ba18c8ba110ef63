"""Publishing to a Matrix room exactly once per delivery.

The delivery key is the ``txnId`` of the text event (``{key}.img{n}`` for images), and every
event id is recorded as a durable step, so a retry resumes instead of repeating. Synapse keeps
transaction ids only 30–60 minutes, in memory; for the one window the steps cannot cover (the
event was sent, then the worker died before recording it) a retry first looks in the room for an
event of ours carrying that transaction id (``unsigned.transaction_id``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar
from urllib.parse import quote

from adapters.matrix import render
from adapters.matrix.client import API, Client, MatrixError
from adapters.matrix.spec import MatrixOptions
from hub.domain.model import PeopleSnapshot, Post, Target
from hub.errors import ContentRejected, PermanentDeliveryError
from hub.ports import JSON, Draft, MediaLoader, Receipt, Steps

_GROWS = ("shared", "world_readable")
_PRESENT = ("join", "invite")


class MatrixPublisher:
    platform: ClassVar[str] = "matrix"

    def __init__(self, account: str, *, user_id: str, client: Client,
                 media_loader: MediaLoader | None = None) -> None:
        self.account = account
        self.user_id = user_id
        self.server_name = user_id.split(":", 1)[1]
        self._client = client
        self._media_loader = media_loader

    def __repr__(self) -> str:
        return f"MatrixPublisher({self.account!r})"

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        options = MatrixOptions.model_validate(dict(target.options))
        content = render.check(post, target)
        recipients, notes = render.invitees(options, people)
        images: list[JSON] = [{"sha256": m.sha256, "content": render.image(m, i)}
                              for i, m in enumerate(post.media)]
        payload: dict[str, JSON] = {
            "room": options.room, "list": options.list, "history": options.history,
            "alias": options.alias or (f"hub-{options.list}" if options.list else None),
            "content": content, "images": images,
            "invite": [r.address for r in recipients]}
        size = render.content_bytes(content)
        return Draft(platform=self.platform, account=self.account, target=target.name,
                     parts=(str(content["body"]),), recipients=recipients, payload=payload,
                     counter=f"{size}/{render.MAX_CONTENT_BYTES} bytes", notes=notes)

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        p = draft.payload
        room_id = await steps.get("room")
        if room_id is None:
            room_id = await (self._kept_room(p) if p.get("list") else
                             self._client.join(str(p["room"])))
            await steps.record("room", room_id)
        await self._refuse_encrypted(room_id)
        skipped: list[JSON] = []
        if p.get("list"):
            skipped = await self._keep_in_step(room_id, p)
        events: list[JSON] = []
        text = p["content"]
        assert isinstance(text, dict)
        events.append(await self._send_once(room_id, key, text, steps))
        images = p.get("images")
        for i, item in enumerate(images if isinstance(images, list) else []):
            assert isinstance(item, dict) and isinstance(item["content"], dict)
            content: dict[str, Any] = dict(item["content"])
            content["url"] = await self._upload_once(str(item["sha256"]), content, i, steps)
            events.append(await self._send_once(room_id, f"{key}.img{i}", content, steps))
        return await self._receipt(room_id, events, skipped)

    async def edit(self, receipt: Receipt, draft: Draft, *, steps: Steps) -> Receipt:
        """Replace the text with an ``m.replace`` event (the original keeps its id). Images
        cannot be changed so: a changed set is refused (delete and publish again). The edit's
        txnId derives from the original and the new content, so a repeat is one edit."""
        room_id = str(receipt.details.get("room_id") or "")
        events = receipt.details.get("events")
        sent_images = len(events) - 1 if isinstance(events, list) else 0
        images = draft.payload.get("images")
        if sent_images != (len(images) if isinstance(images, list) else 0):
            raise PermanentDeliveryError(f"{draft.target}: the images changed; a Matrix edit "
                                         "changes the text only: delete and publish again",
                                         platform=self.platform)
        new = draft.payload["content"]
        assert isinstance(new, dict)
        content: dict[str, Any] = {**new, "body": f"* {new['body']}",
                                   "m.new_content": dict(new),
                                   "m.relates_to": {"rel_type": "m.replace",
                                                    "event_id": receipt.remote_id}}
        if "formatted_body" in new:
            content["formatted_body"] = f"* {new['formatted_body']}"
        digest = hashlib.sha256((receipt.remote_id + json.dumps(new, sort_keys=True))
                                .encode()).hexdigest()[:24]
        await self._send_once(room_id, f"edit-{digest}", content, steps)
        return receipt

    async def delete(self, receipt: Receipt, *, steps: Steps) -> None:
        """Redact every event the delivery sent (text and images); safe to repeat."""
        room_id = str(receipt.details.get("room_id") or "")
        events = receipt.details.get("events")
        for event_id in events if isinstance(events, list) else [receipt.remote_id]:
            txn = "redact-" + hashlib.sha256(str(event_id).encode()).hexdigest()[:24]
            await self._client.redact(room_id, str(event_id), txn)

    async def aclose(self) -> None:
        await self._client.http.aclose()

    async def _kept_room(self, p: Any) -> str:
        """The room the hub keeps for a list, found by its alias or created with it."""
        alias = f"#{p['alias']}:{self.server_name}"
        room_id = await self._client.alias_room(alias)
        if room_id is not None:
            return room_id
        body = {"preset": "private_chat", "visibility": "private",
                "room_alias_name": p["alias"], "name": f"{p['list']} (hub)",
                "topic": "Posts shared with this list by the hub.",
                "initial_state": [{"type": "m.room.history_visibility", "state_key": "",
                                   "content": {"history_visibility": p["history"]}}]}
        try:
            _, created = await self._client.call("POST", f"{API}/createRoom", json=body,
                                                 action=f"create the room {alias}")
        except MatrixError as exc:
            if exc.errcode != "M_ROOM_IN_USE":   # another worker created it just now
                raise
            return await self._client.resolve(alias)
        return str(created["room_id"])

    async def _refuse_encrypted(self, room_id: str) -> None:
        if await self._client.state(room_id, "m.room.encryption") is not None:
            raise PermanentDeliveryError(
                f"room {room_id} is end-to-end encrypted: the hub cannot encrypt messages yet "
                f"and will not post in clear there; use an unencrypted room", platform="matrix")

    async def _keep_in_step(self, room_id: str, p: Any) -> list[JSON]:
        """Invite the list's members, remove those who left it, and hold history to the
        policy's setting. Returns the identities that could not be invited (with why)."""
        history = await self._client.state(room_id, "m.room.history_visibility") or {}
        if history.get("history_visibility") != p["history"]:
            await self._client.call(
                "PUT", f"{API}/rooms/{quote(room_id)}/state/m.room.history_visibility/",
                json={"history_visibility": p["history"]}, action="set the room's history")
        members = await self._client.members(room_id)
        wanted = set(p["invite"])
        skipped: list[JSON] = []
        for user_id in sorted(wanted):
            if members.get(user_id) in _PRESENT:
                continue
            try:
                await self._client.call("POST", f"{API}/rooms/{quote(room_id)}/invite",
                                        json={"user_id": user_id}, action=f"invite {user_id}")
            except MatrixError as exc:
                skipped.append({"identity": user_id, "reason": exc.message})
        for user_id, membership in sorted(members.items()):
            if membership in _PRESENT and user_id not in wanted and user_id != self.user_id:
                await self._client.call("POST", f"{API}/rooms/{quote(room_id)}/kick",
                                        json={"user_id": user_id,
                                              "reason": "no longer in the list"},
                                        action=f"remove {user_id}")
        return skipped

    async def _send_once(self, room_id: str, txn: str, content: dict[str, Any],
                         steps: Steps) -> str:
        step = f"event:{txn}"
        event_id = await steps.get(step)
        if event_id is None and await steps.get(f"tried:{txn}"):
            event_id = await self._find_sent(room_id, txn)   # outcome of the last try unknown
        if event_id is None:
            await steps.record(f"tried:{txn}", "1")
            event_id = await self._client.send(room_id, txn, content)
        await steps.record(step, event_id)
        return event_id

    async def _find_sent(self, room_id: str, txn: str) -> str | None:
        """Our event with this transaction id among the room's recent events, if any."""
        _, body = await self._client.call(
            "GET", f"{API}/rooms/{quote(room_id)}/messages", action="check the room",
            params={"dir": "b", "limit": "100",
                    "filter": json.dumps({"senders": [self.user_id]})})
        for event in body.get("chunk", []):
            if (event.get("unsigned") or {}).get("transaction_id") == txn:
                return str(event["event_id"])
        return None

    async def _upload_once(self, sha256: str, content: dict[str, Any], index: int,
                           steps: Steps) -> str:
        uri = await steps.get(f"mxc:{index}")
        if uri is None:
            if self._media_loader is None:
                raise ContentRejected("this Matrix account cannot read the hub's media store")
            uri = await self._client.upload(self._media_loader(sha256),
                                            str(content["info"]["mimetype"]),
                                            str(content["filename"]))
            await steps.record(f"mxc:{index}", uri)
        return uri

    async def _receipt(self, room_id: str, events: list[JSON], skipped: list[JSON]) -> Receipt:
        """Who could see it: the members right after sending (joined, and invited unless the
        history is ``joined``), and whether the room's history lets later members read it too
        (then the snapshot is a lower bound: it grows)."""
        members = await self._client.members(room_id)
        history = (await self._client.state(room_id, "m.room.history_visibility") or {}).get(
            "history_visibility", "shared")
        # with history "joined", someone still only invited can never read this message
        readers = ("join",) if history == "joined" else _PRESENT
        present: list[JSON] = [u for u in sorted(members)
                               if members[u] in readers and u != self.user_id]
        first = str(events[0])
        return Receipt(remote_id=first, url=f"https://matrix.to/#/{room_id}/{first}",
                       details={"room_id": room_id, "events": events, "not_invited": skipped,
                                "audience": {"kind": "room-members", "identities": present,
                                             "lower_bound": history in _GROWS,
                                             "history_visibility": str(history),
                                             "room_id": room_id, "sender": self.user_id}})
