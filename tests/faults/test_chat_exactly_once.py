"""Bluesky group chats in the fault suite. The chat API has no idempotency key, so exactly once
rests on the hub: it records that it is about to send, and a retry whose outcome is unknown
(the service performed the send but its answer was lost, or the worker was killed) first reads
the conversation and adopts its own message instead of sending a second one.

Posts to a list's group chat go through the distributed topology (web, two ``hub worker``
processes, a private Redis, PostgreSQL) while the chat double loses the answers of sends it
performed (502/504), fails before sending (500), rate-limits (429) and workers are SIGKILLed at
seeded moments. Afterwards, reading the conversation itself: every post is there exactly once.
An edit then sends one correction, even when that send's answer is lost too."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tests.faults.channels import BlueskyChat
from tests.faults.conftest import Cluster, cluster, post, require_services

pytestmark = pytest.mark.integration

SEED = 20261201
POSTS = 30
CHAOS_SECONDS = 14.0
FINAL = {"published", "failed", "denied", "rejected", "cancelled"}


class Chaos(threading.Thread):
    """Seeded: a chat fault every ~0.4 s, a worker killed (and replaced) every ~3 s."""

    def __init__(self, c: Cluster, chat: BlueskyChat, rng: random.Random) -> None:
        super().__init__(name="chat-chaos", daemon=True)
        self.c, self.chat, self.rng = c, chat, rng
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            started = time.monotonic()
            next_kill = started + 2.5
            while not self.stop.is_set() and time.monotonic() - started < CHAOS_SECONDS:
                self.chat.inject(self.rng)
                if time.monotonic() >= next_kill:
                    alive = [w for w in self.c.topology.workers if w.poll() is None]
                    if alive:
                        self.c.kill(self.rng.choice(alive), "chaos")
                    self.c.replace_dead_workers()
                    next_kill += self.rng.uniform(2.5, 3.5)
                self.stop.wait(self.rng.uniform(0.25, 0.55))
            self.c.replace_dead_workers()
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)


def _post(client: httpx.Client, auth: dict[str, str], post_id: str) -> dict[str, Any]:
    r = client.get(f"/api/posts/{post_id}", headers=auth)
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.mark.timeout(480)
def test_every_post_reaches_the_group_chat_exactly_once_through_lost_answers_and_kills(
        tmp_path) -> None:
    require_services()
    rng = random.Random(SEED)
    chat = BlueskyChat()
    with cluster(tmp_path, [chat], "  []\n", workers=2) as c, \
            httpx.Client(base_url=c.api, timeout=30) as client:
        auth = {"Authorization": f"Bearer {c.token}"}
        chaos = Chaos(c, chat, rng)
        chaos.start()
        ids: dict[str, str] = {}
        for n in range(1, POSTS + 1):
            marker = f"[c{n:03d}]"
            ids[marker] = str(post(client, c.token, {"text": f"chat post {marker}",
                                                     "audiences": ["chatters"]})["id"])
            time.sleep(0.3)
        chaos.join(CHAOS_SECONDS + 30)
        assert not chaos.errors, chaos.errors

        def settled() -> bool:
            c.replace_dead_workers()
            return all(d["status"] in FINAL for i in ids.values()
                       for d in _post(client, auth, i)["deliveries"])

        wait_until(settled, timeout=240, what="every delivery to be final")
        statuses = {m: [d["status"] for d in _post(client, auth, i)["deliveries"]]
                    for m, i in ids.items()}
        assert all(s == ["published"] for s in statuses.values()), statuses
        texts = chat.messages()
        assert {m: sum(m in t for t in texts) for m in ids} == dict.fromkeys(ids, 1)
        assert len(chat.world.convos) == 1                  # the one group kept for the list
        assert chat.faults["chat lost"] > 0 and c.kills, (chat.faults, c.kills)
        assert chat.world.violations == []

        # An edit cannot change a sent chat message: one correction goes to the group, once,
        # although the service performs that send and loses its answer.
        marker, post_id = next(iter(ids.items()))
        url = f"/api/posts/{post_id}"
        preview = client.patch(url, json={"text": f"chat post {marker}, corrected"},
                               headers=auth).json()
        assert [x["action"] for x in preview["copies"]] == ["correct"]
        chat.world.faults.clear()                            # whatever the chaos left
        chat.world.faults.append(("chat.bsky.convo.sendMessage", 504,
                                  {"error": "UpstreamFailure"}, True))
        done = client.patch(url, json={"text": f"chat post {marker}, corrected",
                                       "confirm": preview["confirm"]}, headers=auth)
        assert done.status_code == 202, done.text

        def corrected() -> bool:
            copies = client.get(f"{url}/copies", headers=auth).json()["copies"]
            return (copies[0]["edit"] or {}).get("status") == "done"

        wait_until(corrected, timeout=120, what="the correction to be sent")
        assert not chat.world.faults                          # the lost answer happened
        assert sum("corrected" in t for t in chat.messages()) == 1
        assert chat.world.violations == []
