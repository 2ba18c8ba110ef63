"""Edit, delete and retry through the API with scoped tokens: a preview answer, then the
confirmed edit; a token limited to some audiences cannot touch other posts; bad input is a 4xx
and changes nothing."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from adapters.fake import FakePublisher
from hub.bootstrap import Mode
from hub.errors import PermanentDeliveryError
from hub.services.delivery import deliver, due_ids
from hub.services.drafts import Author, PostInput
from hub.services.edit_copies import run_copy_edits
from hub.services.posts import get_post, submit_post
from hub.services.tokens import create_token
from tests.integration.test_http import LiveServer
from web.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    return {name: FakePublisher(name) for name in
            ("bluesky:me", "mastodon:main", "email:personal")}


def _published(hub, post_id: str) -> None:
    """Publish what is due with this test's own worker, until nothing is pending."""
    async def run() -> None:
        for delivery_id in await asyncio.to_thread(due_ids, hub):
            await deliver(hub, delivery_id, worker="test")
    for _ in range(50):
        asyncio.run(run())
        if all(d.status not in ("pending", "in_flight") for d in get_post(hub, post_id)
               .deliveries):
            return
        time.sleep(0.02)
    raise AssertionError("deliveries did not settle")


def test_edit_delete_and_retry_through_the_api_with_scoped_tokens(make_runtime, sqlite_url,
                                                                   fakes):
    runtime = make_runtime(sqlite_url, mode=Mode.CLI)
    hub = runtime.hub
    _, full = create_token(hub, "laptop", ["post", "read", "approve"])
    _, phone = create_token(hub, "phone", ["post", "read"], ["friends"])
    public = submit_post(hub, PostInput("Helo", ["public"]), Author())
    fakes["mastodon:main"].fail_next(1, PermanentDeliveryError("refused", platform="mastodon"))
    _published(hub, public.post.id)
    as_full = {"Authorization": f"Bearer {full}"}
    as_phone = {"Authorization": f"Bearer {phone}"}
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        url = f"/api/posts/{public.post.id}"
        assert client.patch(url, json={"text": "Hello"}, headers=as_phone).status_code == 403
        assert client.delete(url, headers=as_phone).status_code == 403
        masto = next(d for d in get_post(hub, public.post.id).deliveries
                     if d.target == "masto-public")
        retried = client.post(f"/api/deliveries/{masto.id}/retry", headers=as_phone)
        assert retried.status_code == 403
        retried = client.post(f"/api/deliveries/{masto.id}/retry", headers=as_full)
        assert retried.status_code == 200, retried.text
        _published(hub, public.post.id)

        wider = client.patch(url, json={"text": "Hello", "audiences": ["public", "friends"]},
                             headers=as_full)
        assert wider.status_code == 400 and "make a new post" in wider.json()["detail"]
        preview = client.patch(url, json={"text": "Hello", "tags": ["private"]},
                               headers=as_full).json()
        assert preview["applied"] is False
        assert sorted(preview["retracts"]) == ["bsky", "masto-public"]
        assert get_post(hub, public.post.id).post.text == "Helo"      # a preview changes nothing
        stale = client.patch(url, json={"text": "Hello!", "confirm": preview["confirm"]},
                             headers=as_full)
        assert stale.status_code == 409
        preview = client.patch(url, json={"text": "Hello"}, headers=as_full).json()
        done = client.patch(url, json={"text": "Hello", "confirm": preview["confirm"]},
                            headers=as_full)
        # Recorded, not run in the request: 202, and the copies wait for the workers.
        assert done.status_code == 202, done.text
        assert sorted(done.json()["in_progress"]) == ["bsky", "masto-public"]
        assert {(c["target"], c["carries_version"], c["edit"]["status"])
                for c in done.json()["copies"]} == {("bsky", 1, "pending"),
                                                     ("masto-public", 1, "pending")}
        assert fakes["mastodon:main"].edited == []
        asyncio.run(run_copy_edits(hub, public.post.id))      # the workers' turn
        copies = client.get(f"{url}/copies", headers=as_full).json()["copies"]
        assert {c["target"]: c["carries_version"] for c in copies} == {
            "bsky": 2, "masto-public": 2}
        assert {c["edit"]["action"] for c in copies} == {"edit", "replace"}

        gone = client.delete(url, headers=as_full).json()
        assert gone["deleted"] is True and gone["still_live"] == []
        again = client.patch(url, json={"text": "Hello?"}, headers=as_full)
        assert again.status_code == 409 and "deleted" in again.json()["detail"]
    assert len(fakes["mastodon:main"].edited) == 1


def test_the_preview_names_targets_the_edit_would_newly_allow_and_never_adds_them(
        make_runtime, sqlite_url, fakes):
    runtime = make_runtime(sqlite_url, mode=Mode.CLI)
    hub = runtime.hub
    _, full = create_token(hub, "laptop", ["post", "read"])
    view = submit_post(hub, PostInput("Garden party", ["public", "friends"], tags=["private"]),
                       Author())
    _published(hub, view.post.id)
    sent_to = {d.target for d in get_post(hub, view.post.id).deliveries}
    assert sent_to == {"friends-mail", "friends-feed"}          # #private kept it home
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        url = f"/api/posts/{view.post.id}"
        auth = {"Authorization": f"Bearer {full}"}
        preview = client.patch(url, json={"tags": []}, headers=auth).json()
        assert sorted(preview["not_added"]) == ["bsky", "masto-public"]
        assert any(n.startswith("bsky: ") and "an edit never adds audiences; a new audience "
                   "is a new post" in n for n in preview["notes"])
        done = client.patch(url, json={"tags": [], "confirm": preview["confirm"]},
                            headers=auth)
        assert done.status_code == 202, done.text
    assert {d.target for d in get_post(hub, view.post.id).deliveries} == sent_to
    assert fakes["bluesky:me"].published == {} and fakes["mastodon:main"].published == {}
