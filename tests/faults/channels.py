"""The fault suite's platforms for the newer channels, pluggable like ``platforms.py``: a signed
webhook receiver (verifying every signature with the reference ``standardwebhooks`` library)
that answers 5xx, 429 and holds answers past the hub's timeout on a seeded schedule; a room on
the real Synapse; and a Bluesky group chat on the lexicon-validated chat double, which loses
the answers of sends it performed."""

from __future__ import annotations

import contextlib
import random
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from hub.runtime import Hub
from tests.faults.platforms import MARKER, Platform
from tests.webhook_receiver import Answer, WebhookReceiver


class Webhook(Platform):
    """``friends`` also goes to a webhook (declared reach ``recipients``, list ``friends``).
    Exactly once means one ``webhook-id`` per post: a retry after a lost answer repeats the
    same id, which the receiver drops; the raw repeats are reported."""

    def __init__(self) -> None:
        super().__init__(
            "webhook", accounts=("webhook:team",),
            targets={"team-hook": "{account: webhook:team, reach: recipients, list: friends}"})
        from adapters.webhook.signing import new_secret

        self.secret = new_secret()
        self.receiver = WebhookReceiver(self.secret)
        self._timers: list[threading.Timer] = []

    def merge_into(self, platforms: list[Platform]) -> None:
        """Join the ``friends`` audience of the email platform."""
        for p in platforms:
            if "friends" in p.audiences:
                reach, targets = p.audiences["friends"]
                p.audiences["friends"] = (reach, (*targets, "team-hook"))

    def start(self, stack: contextlib.ExitStack, tmp: Path) -> None:
        stack.enter_context(self.receiver)
        stack.callback(lambda: [t.cancel() for t in self._timers])

    async def connect(self, hub: Hub) -> None:
        from adapters.webhook import connect
        from hub.services.accounts import connect_account

        await connect_account(hub, "webhook:team", {"url": self.receiver.url, "timeout": 2.0},
                              self.secret, connect)

    def inject(self, rng: random.Random) -> None:
        kind = rng.choice(["500", "503", "429", "timeout"])
        if kind == "429":
            answer = Answer(429, {"retry-after": "1"})
        elif kind == "timeout":    # stored by the receiver, but the hub sees a timeout
            release = threading.Event()
            timer = threading.Timer(3.0, release.set)
            timer.daemon = True
            timer.start()
            self._timers.append(timer)
            answer = Answer(200, hold=release)
        else:
            answer = Answer(int(kind), body="receiver trouble")
        self.receiver.script.append(answer)
        self.faults[f"webhook {kind}"] += 1

    def calm(self) -> None:
        self.receiver.script.clear()

    def expected(self, target: str) -> set[str]:
        return {"receiver"}

    def _ids_by_marker(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for r in self.receiver.received:
            if r.status // 100 != 2:
                continue      # refused (5xx, 429): not stored; the retry brings it again
            marker = MARKER.search(str((r.event.get("data") or {}).get("text", "")))
            if marker:
                found[marker.group(0)].add(r.webhook_id)
        return found

    def copies(self, marker: str, target: str) -> dict[str, int]:
        ids = self._ids_by_marker().get(marker, set())
        return {"receiver": len(ids)} if ids else {}

    def notes(self) -> dict[str, Any]:
        ids = Counter(r.webhook_id for r in self.receiver.received)
        return {"requests": len(self.receiver.received),
                "repeated_webhook_ids": sum(n - 1 for n in ids.values() if n > 1),
                # a signature the reference library refuses is a contract violation
                "contract_violations": list(self.receiver.rejected)}


class MatrixRoom(Platform):
    """``public`` also goes to an existing Matrix room on the real Synapse (reach
    ``room-members``, narrower than ``world``). Synapse has no fault switch; the workers
    killed mid-send exercise the txnId and the room check before a resend."""

    def __init__(self, synapse: Any) -> None:
        super().__init__("matrix", accounts=("matrix:home",))
        self.synapse = synapse
        self.hub_user = synapse.register("hub")
        self.reader = synapse.register("reader")
        self.room = synapse.create_room(self.reader, preset="private_chat",
                                        invite=[self.hub_user.user_id])
        self.targets = {"public-room": f'{{account: matrix:home, room: "{self.room}"}}'}
        self._bodies: list[str] | None = None

    def merge_into(self, platforms: list[Platform]) -> None:
        for p in platforms:
            if "public" in p.audiences:
                reach, targets = p.audiences["public"]
                p.audiences["public"] = (reach, (*targets, "public-room"))

    async def connect(self, hub: Hub) -> None:
        from adapters.matrix import connect
        from hub.services.accounts import connect_account

        await connect_account(hub, "matrix:home", {"homeserver": self.synapse.url,
                                                   "timeout": 5.0},
                              self.hub_user.token, connect)

    def expected(self, target: str) -> set[str]:
        return {"room"}

    def copies(self, marker: str, target: str) -> dict[str, int]:
        if self._bodies is None:        # read once, after the run, as the room's reader
            self._bodies = [str(e["content"].get("body", ""))
                            for e in self.synapse.messages(self.reader, self.room)
                            if e["type"] == "m.room.message"]
        n = sum(marker in body for body in self._bodies)
        return {"room": n} if n else {}

    def notes(self) -> dict[str, Any]:
        return {"room_messages": len(self._bodies or [])}


class BlueskyChat(Platform):
    """A list's Bluesky group chat, on the lexicon-validated chat double (served from the
    test process on 127.0.0.1; the workers reach it over HTTP). The chat API has no
    idempotency key, so the faults are the hard ones: a send the service performed whose answer
    is lost (502/504: the outcome unknown, the hub must read the conversation before sending
    again), 5xx before anything happened, and 429. Exactly once: one message per post."""

    def __init__(self, list_name: str = "chatters", members: int = 3) -> None:
        from hub.services.people import NewPerson
        from tests.bluesky_chat_double.app import World

        super().__init__(
            "bluesky-chat", accounts=("bluesky-chat:me",),
            targets={"group-chat": f"{{account: bluesky-chat:me, list: {list_name}}}"},
            audiences={list_name: ("recipients", ("group-chat",))})
        self.world = World()
        self.owner = self.world.account("me.test")
        accounts = [self.world.account(f"chatter{i}.test") for i in range(members)]
        self.people = [NewPerson(f"Chatter {i}", [("bluesky", a.did)], [list_name])
                       for i, a in enumerate(accounts)]
        self.url = ""

    def start(self, stack: contextlib.ExitStack, tmp: Path) -> None:
        from tests.bluesky_chat_double.app import create_app
        from tests.integration.test_http import LiveServer

        self.url = stack.enter_context(LiveServer(create_app(self.world))).url

    async def connect(self, hub: Hub) -> None:
        from adapters.bluesky_chat import connect
        from hub.services.accounts import connect_account

        await connect_account(hub, "bluesky-chat:me", {"handle": self.owner.handle,
                                                       "service": self.url},
                              self.owner.password, connect)

    def inject(self, rng: random.Random) -> None:
        if self.world.faults:          # one at a time: the double consumes them in order
            return
        kind = rng.choice(["lost", "lost", "500", "429"])
        send = "chat.bsky.convo.sendMessage"
        if kind == "lost":          # performed, then the answer is lost
            fault = (send, rng.choice([502, 504]), {"error": "UpstreamFailure"}, True)
        elif kind == "429":
            fault = (send, 429, {"error": "RateLimitExceeded"}, False)
        else:
            fault = (send, 500, {"error": "InternalServerError"}, False)
        self.world.faults.append(fault)
        self.faults[f"chat {kind}"] += 1

    def messages(self) -> list[str]:
        return [str(m.get("text", "")) for c in self.world.convos.values() for m in c.messages]

    def expected(self, target: str) -> set[str]:
        return {"chat"}

    def copies(self, marker: str, target: str) -> dict[str, int]:
        n = sum(marker in text for text in self.messages())
        return {"chat": n} if n else {}

    def notes(self) -> dict[str, Any]:
        return {"chat_messages": len(self.messages()), "convos": len(self.world.convos),
                "lexicon_violations": list(self.world.violations)}
