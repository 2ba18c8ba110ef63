"""Distributed mode in one process: the arq queue on a private redis-server, arq workers in
burst mode over the same job code, the sweeper, Redis loss, scheduled posts as deferred jobs,
/healthz and /metrics. Publishers are fakes injected through the ports."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from arq.constants import default_queue_name, in_progress_key_prefix
from click.testing import CliRunner
from sqlmodel import select

from hub.audit.sequencer import sequence_pending
from hub.bootstrap import Mode
from hub.dispatch import queue
from hub.dispatch.topology import RedisServer
from hub.entrypoints.arq_worker import _follow_policy, create_worker
from hub.errors import TransientDeliveryError
from hub.metrics import RedisMetrics
from hub.services.delivery import claim, deliver
from hub.services.policy import record_policy, reload_policy
from hub.services.posts import Author, PostInput, get_post, submit_post
from hub.store.tables import AuditRow, DeliveryRow
from tests.conftest import wait_until
from tests.integration.test_http import LiveServer

pytestmark = pytest.mark.integration

PG = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def dist(database_url, make_runtime, redis_server):
    """The web process's runtime in distributed mode (the arq enqueuer) on PostgreSQL, with the
    real clock (arq schedules in real time). ``.hub`` serves the arq workers too."""

    def factory(**overrides):
        overrides.setdefault("lease_seconds", 30)
        overrides.setdefault("redis_url", redis_server.url)
        return make_runtime(database_url, real_clock=True, mode=Mode.ENQUEUE, **overrides)

    return factory


async def burst(hub, timeout: float = 30.0, **options):
    """Run one arq worker until the queue is empty."""
    worker = create_worker(hub.settings, hub=hub, handle_signals=False, burst=True,
                           poll_delay=0.02, **options)
    try:
        await asyncio.wait_for(worker.async_run(), timeout)
    finally:
        await worker.close()
    return worker


def statuses(hub, post_id: str) -> dict[str, str]:
    return {d.target: d.status for d in get_post(hub, post_id).deliveries}


@PG
async def test_each_delivery_is_enqueued_once_under_its_own_job_id(dist, redis):
    web = dist()
    hub, enqueuer = web.hub, web.enqueuer
    await web.start()
    view = submit_post(hub, PostInput("hello", ["public"]), Author())
    await enqueuer.flush()
    ids = sorted(d.id for d in view.deliveries)
    queued = sorted(j.decode() for j in await redis.zrange(default_queue_name, 0, -1))
    assert queued == [f"deliver:{i}" for i in ids]
    hub.wake(ids)                                   # a second wake-up: no second job
    await enqueuer.flush()
    assert await redis.zcard(default_queue_name) == 2
    assert not await queue.enqueue(redis, ids[0], due_at=None, now=hub.now())
    await web.stop()


@PG
async def test_arq_workers_publish_every_delivery_exactly_once(dist, redis, fakes):
    web = dist()
    hub, enqueuer = web.hub, web.enqueuer
    await web.start()
    posts = [submit_post(hub, PostInput(f"post {n}", ["public"]), Author()) for n in range(6)]
    await enqueuer.flush()
    worker = await burst(hub)
    assert worker.jobs_complete == 12 and worker.jobs_failed == 0
    for view in posts:
        assert set(statuses(hub, view.post.id).values()) == {"published"}
    assert len(fakes["bluesky:me"].published) == 6
    assert len(fakes["mastodon:main"].published) == 6
    assert await redis.zcard(default_queue_name) == 0
    stats = await RedisMetrics(redis).stats()
    assert stats.attempts == {("bluesky", "published"): 6, ("mastodon", "published"): 6}
    # a repeated job (arq runs jobs at least once) changes nothing
    for view in posts:
        for d in view.deliveries:
            await redis.enqueue_job(queue.DELIVER, d.id, _job_id=f"again:{d.id}")
    await burst(hub)
    assert len(fakes["bluesky:me"].published) == 6
    await web.stop()


@PG
async def test_a_transient_error_becomes_an_arq_retry_at_the_time_the_database_chose(
        dist, redis, fakes):
    hub = dist().hub
    fakes["bluesky:me"].fail_next(1, TransientDeliveryError("429", retry_after=0.5))
    view = submit_post(hub, PostInput("retry", ["public"]), Author())
    for d in view.deliveries:
        assert await queue.enqueue(redis, d.id, due_at=d.due_at, now=hub.now())
    started = time.monotonic()
    worker = await burst(hub)
    assert time.monotonic() - started >= 0.5
    assert worker.jobs_retried == 1 and worker.jobs_complete == 2
    assert statuses(hub, view.post.id) == {"bsky": "published", "masto-public": "published"}
    assert len(fakes["bluesky:me"].published) == 1 and fakes["bluesky:me"].calls == 2
    stats = await RedisMetrics(redis).stats()
    assert stats.attempts[("bluesky", "retry")] == 1


@PG
async def test_losing_redis_loses_nothing_the_sweeper_rebuilds_the_queue(dist, redis, fakes):
    web = dist()
    hub, enqueuer = web.hub, web.enqueuer
    await web.start()
    posts = [submit_post(hub, PostInput(f"p{n}", ["public"]), Author()) for n in range(4)]
    await enqueuer.flush()
    await redis.flushall()                          # Redis lost with every job in it
    assert (await burst(hub)).jobs_complete == 0
    report = await queue.sweep(hub, redis)
    assert report.enqueued == 8
    assert (await queue.sweep(hub, redis)).enqueued == 0     # idempotent
    await burst(hub)
    assert all(set(statuses(hub, v.post.id).values()) == {"published"} for v in posts)
    assert len(fakes["mastodon:main"].published) == 4
    await web.stop()


@PG
async def test_scheduled_posts_wait_in_redis_as_deferred_jobs_and_survive_a_flush(
        dist, redis, fakes):
    web = dist()
    hub, enqueuer = web.hub, web.enqueuer
    await web.start()
    when = datetime.now(UTC) + timedelta(seconds=2)
    view = submit_post(hub, PostInput("later", ["public"], schedule_at=when), Author())
    await enqueuer.flush()
    assert await redis.zcard(default_queue_name) == 0       # not due: nobody woke a worker
    assert (await queue.sweep(hub, redis)).enqueued == 2
    score = await redis.zscore(default_queue_name, f"deliver:{view.deliveries[0].id}")
    assert score == pytest.approx(when.timestamp() * 1000, abs=5)
    await redis.flushall()
    assert (await queue.sweep(hub, redis)).enqueued == 2
    await burst(hub)                    # burst mode waits for the deferred jobs
    assert datetime.now(UTC) >= when
    assert set(statuses(hub, view.post.id).values()) == {"published"}
    with hub.db.read() as s:
        published = [d.finished for d in s.exec(select(DeliveryRow))]
    assert all(f is not None and f >= when for f in published)
    await web.stop()


@PG
async def test_a_job_a_dead_worker_left_in_progress_is_freed_and_published_once(
        dist, redis, fakes):
    """kill -9 leaves arq's in-progress mark (for job_timeout + 10 s) and a database lease;
    once the lease runs out the sweeper clears the mark and another worker finishes."""
    hub = dist(lease_seconds=3).hub
    view = submit_post(hub, PostInput("orphan", ["public"]), Author())
    d = next(x for x in view.deliveries if x.target == "bsky")
    await queue.enqueue(redis, d.id, due_at=None, now=hub.now())
    assert claim(hub, d.id, "dead-worker#1")                       # it took the job...
    await redis.set(in_progress_key_prefix + f"deliver:{d.id}", b"1", px=60_000)   # ...and died
    assert (await queue.sweep(hub, redis)).unstuck == 0   # its lease still runs
    with hub.db.read() as s:
        lease_until = s.get(DeliveryRow, d.id).lease_until
    hub.now.advance((lease_until - hub.now()).total_seconds() + 0.1)   # the lease runs out
    report = await queue.sweep(hub, redis)
    assert report.unstuck == 1
    assert await queue.take_sweep_turn(redis, "test", 30)   # the worker below does not sweep
    await burst(hub)
    assert statuses(hub, view.post.id)["bsky"] == "published"
    assert len(fakes["bluesky:me"].published) == 1
    with hub.db.read() as s:
        row = s.get(DeliveryRow, d.id)
    assert row.attempts == 2


@PG
def test_workers_follow_the_policy_the_web_process_loaded(dist, policy_dir):
    web, worker = dist().hub, dist().hub
    ctx = {"followed": None}
    old = worker.policies.current.digest
    policy = policy_dir / "hub.yaml"
    policy.write_text(policy.read_text() + "  - id: stop\n    deny: {tags: [stop]}\n")
    _follow_policy(worker, ctx)
    assert worker.policies.current.digest == old          # not reloaded by the web yet
    new, changed = reload_policy(web, actor="test")
    assert changed
    text = policy.read_text()
    policy.write_text(text[: len(text) // 2])        # caught half-written by an editor
    _follow_policy(worker, ctx)
    assert worker.policies.current.digest == old     # a broken file never replaces it
    policy.write_text(text)
    _follow_policy(worker, ctx)                      # tried again once the files change
    assert worker.policies.current.digest == new.digest


@PG
def test_healthz_and_metrics_show_redis_workers_queue_and_deliveries(
        dist, tmp_path, fakes):
    private = RedisServer(log=tmp_path / "redis.log").start()
    try:
        runtime = dist(redis_url=private.url)
        hub = runtime.hub
        from web.app import create_app

        app = create_app(hub.settings, runtime=runtime)
        with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
            health = client.get("/healthz").json()
            assert health["redis"] == "ok" and health["workers"] == 0
            assert health["status"] == "degraded"              # no worker yet

            async def heartbeat() -> None:
                pool = await queue.connect(private.url, patient=False)
                await queue.beat(pool, "w-test", 30, {"name": "w-test"})
                await pool.aclose()

            asyncio.run(heartbeat())
            view = submit_post(hub, PostInput("m", ["public"]), Author())
            wait_until(lambda: "hub_queue_jobs 2.0" in client.get("/metrics").text,
                       what="the web process to enqueue the post's two jobs")
            health = client.get("/healthz").json()
            assert health["status"] == "ok" and health["workers"] == 1
            text = client.get("/metrics").text
            assert 'hub_deliveries{platform="bluesky",state="pending"} 1.0' in text
            assert "hub_queue_jobs 2.0" in text and "hub_workers 1.0" in text
            assert "hub_redis_up 1.0" in text
            private.kill()
            health = client.get("/healthz")
            assert health.status_code == 200                  # posts are still accepted
            assert health.json()["redis"].startswith("error")
            assert "hub_redis_up 0.0" in client.get("/metrics").text
            later = submit_post(hub, PostInput("while Redis is down", ["public"]), Author())
            assert {d.status for d in later.deliveries} == {"pending"}
        assert view.post.id
    finally:
        private.stop()


def test_hub_worker_refuses_to_start_without_redis(tmp_path, monkeypatch):
    from hub.entrypoints.cli import main

    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 1
    assert "needs HUB_REDIS_URL" in result.output


def test_db_upgrade_is_the_same_on_sqlite_and_postgresql(database_url, tmp_path, monkeypatch):
    from hub.entrypoints.cli import main
    from hub.store.migrate import alembic_config

    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    for _ in range(2):                              # a second upgrade is a no-op
        result = CliRunner().invoke(main, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert f"schema at revision {head}" in result.output


@PG
async def test_metrics_count_what_the_workers_did(dist, redis, fakes):
    hub = dist().hub
    fakes["mastodon:main"].fail_next(1, TransientDeliveryError("502", retry_after=0.1))
    view = submit_post(hub, PostInput("count me", ["public"]), Author())
    for d in view.deliveries:
        await queue.enqueue(redis, d.id, due_at=None, now=hub.now())
    await burst(hub)
    stats = await RedisMetrics(redis).stats()
    assert stats.attempts == {("bluesky", "published"): 1, ("mastodon", "published"): 1,
                              ("mastodon", "retry"): 1}
    assert sum(stats.buckets["mastodon"]) == 2 and stats.seconds["mastodon"] > 0
    sequence_pending(hub.db, wait=True)   # the queued audit events too
    with hub.db.read() as s:
        outcomes = [e.name for e in s.exec(select(AuditRow)) if e.delivery_id]
    assert outcomes.count("DeliverySucceeded") == 2


@PG
async def test_hub_post_on_the_command_line_wakes_the_arq_workers(
        database_url, policy_dir, tmp_path, monkeypatch, redis, redis_server):
    from hub.entrypoints.cli import main

    for key, value in {"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_POLICY_DIR": str(policy_dir),
                       "HUB_DATABASE_URL": database_url,
                       "HUB_REDIS_URL": redis_server.url}.items():
        monkeypatch.setenv(key, value)

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    await asyncio.to_thread(run, "init")
    out = await asyncio.to_thread(run, "post", "from the shell", "--audience", "friends")
    assert "pending" in out
    assert await redis.zcard(default_queue_name) == 2       # friends-mail, friends-feed


@PG
async def test_a_deny_the_web_just_loaded_stops_due_deliveries_in_a_worker_at_once(
        dist, redis, fakes, policy_dir):
    """The worker has not followed the reload yet (no sweep period passed, no SIGHUP): it
    reads the policy state before each publish, loads the files, and denies."""
    web = dist()
    await web.start()
    worker = dist().hub                       # another process: its own policy in memory
    record_policy(web.hub, web.hub.policies.current, actor="hub serve")
    views = [submit_post(web.hub, PostInput(f"trip {n}", ["public"], tags=["travel"]),
                         Author()) for n in range(3)]
    await web.enqueuer.flush()
    due = [d.id for v in views for d in v.deliveries]
    assert len(due) == 6 and await redis.zcard(default_queue_name) == 6
    policy = policy_dir / "hub.yaml"
    policy.write_text(policy.read_text() + "  - id: no-travel\n    deny: {tags: [travel]}\n")
    new, changed = reload_policy(web.hub, actor="test")
    assert changed and worker.policies.current.digest != new.digest   # not followed yet
    attempts = [await deliver(worker, delivery_id, worker="w2#1") for delivery_id in due]
    assert {a.status for a in attempts} == {"denied"}
    assert {a.policy_digest for a in attempts} == {new.digest}
    assert fakes["bluesky:me"].published == {} and fakes["mastodon:main"].published == {}
    assert worker.policies.current.digest == new.digest
    for view in views:
        assert set(statuses(worker, view.post.id).values()) == {"denied"}
    await web.stop()


@PG
async def test_a_worker_publishes_nothing_while_its_files_do_not_give_the_policy_in_force(
        dist, redis, fakes, policy_dir):
    web, worker = dist(), dist().hub
    view = submit_post(web.hub, PostInput("hello", ["public"]), Author())
    policy = policy_dir / "hub.yaml"
    good = policy.read_text()
    policy.write_text(good + "  - id: stop\n    deny: {tags: [stop]}\n")
    reload_policy(web.hub, actor="test")           # recorded in the database
    policy.write_text(good[: len(good) // 2])       # this worker's copy is caught half-written
    attempt = await deliver(worker, view.deliveries[0].id, worker="w2#1")
    assert attempt.status == "skipped" and "not loaded here" in attempt.reason
    assert set(statuses(worker, view.post.id).values()) == {"pending"}   # offered again later
    assert fakes["bluesky:me"].published == {} and fakes["mastodon:main"].published == {}


@PG
async def test_a_copy_edit_is_judged_by_the_policy_in_force_not_a_workers_stale_one(
        dist, redis, fakes, policy_dir):
    """The edit was confirmed under the old policy; the web then loads a deny for its new tag.
    A worker that has not followed the reload runs the copy edits: it reads the policy in
    force (as a delivery does) and retracts the copies instead of editing them."""
    from hub.services.edit_copies import run_copy_edits
    from hub.services.edits import EditInput, edit_post, plan_edit

    web, worker = dist(), dist().hub
    view = submit_post(web.hub, PostInput("trip", ["public"]), Author())
    for d in view.deliveries:
        await deliver(web.hub, d.id, worker="w1#1")
    assert set(statuses(web.hub, view.post.id).values()) == {"published"}
    change = EditInput(text="trip to the coast", tags=["travel"])
    plan = plan_edit(web.hub, view.post.id, change, Author())
    assert {c.action for c in plan.copies} <= {"edit", "replace"}
    await edit_post(web.hub, view.post.id, change, Author(), confirm=plan.digest)
    policy = policy_dir / "hub.yaml"
    policy.write_text(policy.read_text() + "  - id: no-travel\n    deny: {tags: [travel]}\n")
    new, changed = reload_policy(web.hub, actor="test")
    assert changed and worker.policies.current.digest != new.digest   # not followed yet
    await run_copy_edits(worker, view.post.id)
    assert fakes["mastodon:main"].edited == []                 # nothing went out edited
    assert len(fakes["mastodon:main"].deleted) == 1 and len(fakes["bluesky:me"].deleted) == 1
    assert worker.policies.current.digest == new.digest


@PG
async def test_a_copy_edit_waits_while_a_workers_files_do_not_give_the_policy_in_force(
        dist, redis, fakes, policy_dir):
    from hub.services.edit_copies import run_copy_edits
    from hub.services.edits import EditInput, copy_versions, edit_post, plan_edit

    web, worker = dist(), dist().hub
    view = submit_post(web.hub, PostInput("trip", ["public"]), Author())
    for d in view.deliveries:
        await deliver(web.hub, d.id, worker="w1#1")
    change = EditInput(text="trip to the coast")
    plan = plan_edit(web.hub, view.post.id, change, Author())
    await edit_post(web.hub, view.post.id, change, Author(), confirm=plan.digest)
    policy = policy_dir / "hub.yaml"
    good = policy.read_text()
    policy.write_text(good + "  - id: stop\n    deny: {tags: [stop]}\n")
    reload_policy(web.hub, actor="test")            # recorded in the database
    policy.write_text(good[: len(good) // 2])        # this worker's copy is caught half-written
    await run_copy_edits(worker, view.post.id)
    assert fakes["mastodon:main"].edited == [] and fakes["bluesky:me"].deleted == []
    edits = {c["target"]: c["edit"] for c in copy_versions(web.hub, view.post.id)}
    assert {e["status"] for e in edits.values() if e} == {"pending"}   # offered again later
