"""Micropub's ``action=undelete`` on this hub's posts (W3C Micropub 3.5): a deleted post is
published again to its audiences, judged again by the policy in force; copies a delete could
not recall are not sent twice; a token outside the post's audiences is refused."""

from __future__ import annotations

import pytest

from adapters.fake import FakePublisher
from hub.audit.sequencer import sequence_pending
from hub.services.posts import get_post
from tests.integration.micropub.test_micropub import _post_id, _settled

pytestmark = pytest.mark.integration


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    return {name: FakePublisher(name) for name in
            ("bluesky:me", "mastodon:main", "email:personal")}


def test_undelete_publishes_the_post_again_where_the_policy_still_allows_it(mp):
    """W3C Micropub 3.5's undelete on a hub post: the deleted post is published again to its
    audiences, judged again by the policy; the feed entry comes back as a new delivery, the
    email (which a delete cannot recall) is not sent a second time."""
    from sqlmodel import select

    from hub.store.tables import AuditRow

    with mp.client(mp.wide) as http:
        url = http.post("/micropub", data={"h": "entry", "content": "back soon",
                                           "mp-syndicate-to": "friends"}).headers["location"]
        post_id = _post_id(url)
        _settled(mp, post_id)
        sent = {d.target: d.status for d in get_post(mp.hub, post_id).deliveries}
        assert sent == {"friends-feed": "published", "friends-mail": "published"}
        assert http.post("/micropub", json={"action": "delete", "url": url}).status_code == 204
        before = {d.target: d.status for d in get_post(mp.hub, post_id).deliveries}
        assert before == {"friends-feed": "deleted", "friends-mail": "published"}   # still live
        again = http.post("/micropub", json={"action": "undelete", "url": url})
        assert again.status_code == 200, again.text
        assert again.json()["url"] == url
        twice = http.post("/micropub", data={"action": "undelete", "url": url})
    assert twice.status_code == 400 and "is not deleted" in twice.json()["error_description"]
    _settled(mp, post_id)
    view = get_post(mp.hub, post_id)
    assert view.deleted is None
    assert sorted((d.target, d.status) for d in view.deliveries) == [
        ("friends-feed", "deleted"), ("friends-feed", "published"),
        ("friends-mail", "published")]
    sequence_pending(mp.hub.db, wait=True)     # the audit events still queued, too
    with mp.hub.db.read() as s:
        [event] = [r.payload for r in s.exec(select(AuditRow).where(
            AuditRow.post_id == post_id, AuditRow.name == "PostUndeleted"))]
    assert event["resent"] == ["friends-feed"] and event["still_live"] == ["friends-mail"]


def test_undelete_is_refused_to_a_token_outside_the_posts_audiences_and_rechecks_policy(mp):
    with mp.client(mp.wide) as http:
        url = http.post("/micropub", data={"h": "entry", "content": "for everyone",
                                           "mp-syndicate-to": "public"}).headers["location"]
        _settled(mp, _post_id(url))
        assert http.post("/micropub", data={"action": "delete", "url": url}).status_code == 204
    with mp.client(mp.friends) as http:
        got = http.post("/micropub", data={"action": "undelete", "url": url})
    assert got.status_code == 403 and got.json()["error"] == "forbidden"
    assert get_post(mp.hub, _post_id(url)).deleted is not None      # nothing changed
    # A rule added since: the undeleted post is judged by the policy in force.
    policy = mp.hub.settings.policy_dir / "hub.yaml"
    policy.write_text(policy.read_text().rstrip() + "\n  - id: no-bsky-now\n    deny: "
                      "{targets: [bsky]}\n")
    mp.hub.policies.reload()
    with mp.client(mp.wide) as http:
        got = http.post("/micropub", json={"action": "undelete", "url": url})
    assert got.status_code == 200, got.text
    assert {d["target"] for d in got.json()["deliveries"]} == {"masto-public"}
