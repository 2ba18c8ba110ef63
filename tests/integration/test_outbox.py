"""The spine on SQLite and PostgreSQL: submit → decisions → outbox → workers → audit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import func, select

from hub.audit.sequencer import sequence_pending
from hub.errors import (
    ContentRejected,
    CredentialsRejected,
    Forbidden,
    InvalidInput,
    TransientDeliveryError,
    UnknownAudience,
)
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person
from hub.services.policy import reload_policy
from hub.services.posts import Author, PostInput, approve, get_post, submit_post
from hub.store.tables import AuditRow, DecisionRow, DeliveryRow, PostRow
from tests.conftest import Clock

pytestmark = pytest.mark.integration


def _counts(hub) -> tuple[int, int, int, int]:
    sequence_pending(hub.db, wait=True)   # the queued audit events too
    with hub.db.read() as s:
        return tuple(s.exec(select(func.count()).select_from(t)).one()   # type: ignore[return-value]
                     for t in (PostRow, DecisionRow, DeliveryRow, AuditRow))


async def _run_all(hub, worker: str = "w1") -> list[str]:
    outcomes = []
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        outcomes.append((await deliver(hub, delivery_id, worker=worker)).status)
    return outcomes


async def test_public_post_reaches_both_world_targets_once(database_url, make_hub, fakes):
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("hello world", ["public"]), Author())
    assert {d.target for d in view.deliveries} == {"bsky", "masto-public"}
    assert await _run_all(hub) == ["published", "published"]
    assert await _run_all(hub) == []           # nothing due any more
    assert len(fakes["bluesky:me"].published) == 1
    assert len(fakes["mastodon:main"].published) == 1
    assert get_post(hub, view.post.id).status == "done"


async def test_never_widen_keeps_a_restricted_post_off_world_targets(database_url, make_hub,
                                                                    fakes):
    """The 'careless' audience lists bsky, but its declared reach is recipients."""
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("just us", ["careless"]), Author())
    bsky = next(d for d in view.as_json()["decisions"] if d["target"] == "bsky")
    assert bsky["outcome"] == "deny" and bsky["rule_ids"] == ["never-widen"]
    assert [d.target for d in view.deliveries] == ["friends-feed"]
    await _run_all(hub)
    assert fakes["bluesky:me"].published == {}


async def test_any_deny_wins_over_the_audience_allow(database_url, make_hub, fakes):
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("secret", ["public"], tags=["private"]), Author())
    assert view.deliveries == ()
    assert all("private-stays-home" in d["rule_ids"] for d in view.as_json()["decisions"]
               if d["target"] in ("bsky", "masto-public"))


async def test_held_post_waits_for_approval_and_is_rechecked(database_url, make_hub, fakes):
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("quarterly numbers", ["public"], tags=["work"]), Author())
    assert {d.status for d in view.deliveries} == {"held"}
    assert view.status == "awaiting approval"
    assert await _run_all(hub) == []
    approve(hub, view.post.id)
    assert await _run_all(hub) == ["published", "published"]


async def test_rule_added_after_scheduling_still_stops_the_post(database_url, make_hub,
                                                               policy_dir, fakes):
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    when = clock.value + timedelta(hours=2)
    view = submit_post(hub, PostInput("launch day", ["public"], tags=["launch"],
                                      schedule_at=when), Author())
    assert view.status == "scheduled"
    assert await _run_all(hub) == []                        # not due yet
    policy = policy_dir / "hub.yaml"
    policy.write_text(policy.read_text() + "  - id: embargo\n    deny: {tags: [launch]}\n")
    reload_policy(hub)
    clock.advance(3 * 3600)
    assert await _run_all(hub) == ["denied", "denied"]
    after = get_post(hub, view.post.id)
    assert {d.status for d in after.deliveries} == {"denied"}
    assert all("embargo" in d.reason or "stopped by the policy" in d.reason
               for d in after.deliveries)
    assert fakes["bluesky:me"].published == {}
    sequence_pending(hub.db, wait=True)   # the queued audit events too
    with hub.db.read() as s:
        denied = s.exec(select(AuditRow).where(AuditRow.name == "DeliveryDenied")).all()
    assert {tuple(e.payload["rule_ids"]) for e in denied} == {("embargo",)}


async def test_transient_errors_retry_with_backoff_then_publish_once(database_url, make_hub,
                                                                    fakes):
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    fakes["bluesky:me"].fail_next(2, TransientDeliveryError("503 from PDS", retry_after=None))
    view = submit_post(hub, PostInput("retry me", ["public"]), Author())
    assert sorted(await _run_all(hub)) == ["published", "retry"]
    bsky = next(d for d in get_post(hub, view.post.id).deliveries if d.target == "bsky")
    assert bsky.status == "pending" and "503" in bsky.reason
    assert bsky.due_at == clock.value + timedelta(seconds=5)
    clock.advance(5)
    assert await _run_all(hub) == ["retry"]
    clock.advance(10)
    assert await _run_all(hub) == ["published"]
    assert len(fakes["bluesky:me"].published) == 1
    assert fakes["bluesky:me"].calls == 3


async def test_rate_limit_retry_after_is_honoured(database_url, make_hub, fakes):
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    fakes["mastodon:main"].fail_next(1, TransientDeliveryError("429", retry_after=120))
    view = submit_post(hub, PostInput("rate limited", ["public"]), Author())
    await _run_all(hub)
    masto = next(d for d in get_post(hub, view.post.id).deliveries
                 if d.target == "masto-public")
    assert masto.due_at == clock.value + timedelta(seconds=120)


async def test_permanent_failure_stops_with_the_platform_reason(database_url, make_hub, fakes):
    hub = make_hub(database_url)
    fakes["bluesky:me"].fail_next(1, CredentialsRejected("app password revoked"))
    view = submit_post(hub, PostInput("x", ["public"]), Author())
    await _run_all(hub)
    bsky = next(d for d in get_post(hub, view.post.id).deliveries if d.target == "bsky")
    assert bsky.status == "failed" and bsky.reason == "app password revoked"
    sequence_pending(hub.db, wait=True)   # the queued audit events too
    with hub.db.read() as s:
        names = [e.name for e in s.exec(select(AuditRow))]
    assert "DeliveryFailed" in names


async def test_gives_up_after_max_attempts(database_url, make_hub, fakes):
    clock = Clock()
    hub = make_hub(database_url, clock=clock, max_attempts=3)
    fakes["bluesky:me"].fail_next(10, TransientDeliveryError("timeout"))
    view = submit_post(hub, PostInput("x", ["public"]), Author())
    for _ in range(5):
        await _run_all(hub)
        clock.advance(3600)
    bsky = next(d for d in get_post(hub, view.post.id).deliveries if d.target == "bsky")
    assert bsky.status == "failed" and "gave up after 3 attempts" in bsky.reason


async def test_a_crashed_worker_lease_expires_and_another_finishes_once(database_url, make_hub,
                                                                       fakes):
    """Worker A claims and publishes, then dies before recording; B finishes, no duplicate."""
    from hub.services.delivery import claim

    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    view = submit_post(hub, PostInput("crash", ["public"]), Author())
    bsky = next(d for d in view.deliveries if d.target == "bsky")
    assert claim(hub, bsky.id, "worker-a")
    with hub.db.read() as s:
        key = s.get(DeliveryRow, bsky.id).key
    await fakes["bluesky:me"].publish(
        fakes["bluesky:me"].prepare(view.post, hub.policies.current.targets["bsky"],
                                    __import__("hub.domain.model", fromlist=["x"])
                                    .PeopleSnapshot()), key=key, steps=None)   # type: ignore
    assert (await deliver(hub, bsky.id, worker="worker-b")).status == "skipped"   # leased
    clock.advance(hub.settings.lease_seconds + 1)
    assert (await deliver(hub, bsky.id, worker="worker-b")).status == "published"
    assert len(fakes["bluesky:me"].published) == 1


async def test_concurrent_claims_give_the_delivery_to_exactly_one_worker(database_url,
                                                                        make_hub):
    from hub.services.delivery import claim

    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("x", ["public"]), Author())
    target = view.deliveries[0].id
    results = await asyncio.gather(*[asyncio.to_thread(claim, hub, target, f"w{i}")
                                     for i in range(8)])
    assert sum(results) == 1


@pytest.mark.parametrize(("data", "error", "message"), [
    (PostInput("   ", ["friends"]), InvalidInput, "text is empty"),
    (PostInput("x", []), InvalidInput, "at least one audience"),
    (PostInput("x", ["nobody"]), UnknownAudience, "unknown audience 'nobody'"),
    (PostInput("x", ["friends"], tags=["bad tag"]), InvalidInput, "tag 'bad tag'"),
    (PostInput("x", ["friends"], language="english!"), InvalidInput, "language"),
    (PostInput("x" * 600, ["public"]), ContentRejected, "no target can carry this post"),
])
def test_bad_input_is_refused_and_nothing_is_written(database_url, make_hub, data, error,
                                                     message):
    hub = make_hub(database_url)
    before = _counts(hub)
    with pytest.raises(error, match=message):
        submit_post(hub, data, Author())
    assert _counts(hub) == before


def test_text_over_one_targets_limit_only_rejects_that_delivery(database_url, make_hub):
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("y" * 400, ["public"]), Author())
    states = {d.target: (d.status, d.reason) for d in view.deliveries}
    assert states["masto-public"] == ("pending", "")
    assert states["bsky"][0] == "rejected" and "takes 300" in states["bsky"][1]


def test_token_audience_allow_list(database_url, make_hub):
    hub = make_hub(database_url)
    before = _counts(hub)
    with pytest.raises(Forbidden, match="may post to friends only; not to public"):
        submit_post(hub, PostInput("x", ["friends", "public"]),
                    Author("token:phone", frozenset({"friends"})))
    assert _counts(hub) == before


async def test_recipients_at_send_time_are_recorded_in_the_audit(database_url, make_hub):
    from hub.services.audit_post import post_audit
    from hub.services.audit_queries import person_audit

    hub = make_hub(database_url)
    add_person(hub, NewPerson("Ana", [], ["friends"]))
    add_person(hub, NewPerson("Bo", [], ["clients"]))
    view = submit_post(hub, PostInput("for friends", ["friends"]), Author())
    await _run_all(hub)
    audit = post_audit(hub, view.post.id)
    feed = next(c for c in audit["could_see"] if c["target"] == "friends-feed")
    assert [m["name"] for m in feed["people"]] == ["Ana"]
    assert feed["people"][0]["via_list"] == "friends"
    ana = person_audit(hub, "Ana", include_public=False)
    assert [p["post_id"] for p in ana["posts"]] == [view.post.id]
    assert ana["posts"][0]["through"] == "list friends"
    assert person_audit(hub, "Bo", include_public=False)["posts"] == []


async def test_delete_everywhere_removes_copies_and_stops_one_in_flight(database_url, make_hub,
                                                                       fakes):
    """A delivery claimed when the post is deleted is cancelled by its worker's re-check."""
    from hub.services.deletion import delete_everywhere
    from hub.services.delivery import claim

    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    view = submit_post(hub, PostInput("oops", ["public"]), Author())
    bsky = next(d for d in view.deliveries if d.target == "bsky")
    masto = next(d for d in view.deliveries if d.target == "masto-public")
    assert (await deliver(hub, masto.id, worker="w1")).status == "published"
    assert claim(hub, bsky.id, "w-slow")          # in flight when the owner deletes
    await delete_everywhere(hub, view.post.id)
    assert fakes["mastodon:main"].deleted == [f"mastodon:main/{_key(hub, masto.id)}"]
    clock.advance(hub.settings.lease_seconds + 1)
    assert (await deliver(hub, bsky.id, worker="w2")).status == "cancelled"
    assert fakes["bluesky:me"].published == {}
    states = {d.target: d.status for d in get_post(hub, view.post.id).deliveries}
    assert states == {"bsky": "cancelled", "masto-public": "deleted"}


def _key(hub, delivery_id: str) -> str:
    with hub.db.read() as s:
        return s.get(DeliveryRow, delivery_id).key
