"""The hub's batched enqueue (one Lua script for a post's jobs) leaves Redis exactly as arq's
own ``enqueue_job`` does, job by job: the same job payload, queue score and expiry; a job, or
a job whose result is kept, is never enqueued twice; one wake-up per batch with anything
new; and it survives Redis forgetting its scripts."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest
from arq.constants import default_queue_name, job_key_prefix, result_key_prefix
from arq.utils import to_unix_ms

from hub.dispatch import queue

pytestmark = pytest.mark.integration


async def _state(redis, job_id: str) -> tuple[dict, float | None, int]:
    raw = await redis.get(job_key_prefix + job_id)
    return (pickle.loads(raw) if raw is not None else {},
            await redis.zscore(default_queue_name, job_id),
            await redis.pttl(job_key_prefix + job_id))


async def test_a_batch_writes_what_enqueue_job_writes_for_each_job(redis):
    now = datetime.now(UTC)
    later = now + timedelta(minutes=10)
    assert await queue.enqueue_all(redis, [("d1", None), ("d2", later), ("d3", now)], now) == 3
    await redis.enqueue_job(queue.DELIVER, "a1", _job_id="arq:a1")
    await redis.enqueue_job(queue.DELIVER, "a2", _job_id="arq:a2", _defer_until=later)
    mine1, score1, ttl1 = await _state(redis, queue.job_id("d1"))
    arq1, arq_score1, arq_ttl1 = await _state(redis, "arq:a1")
    assert {k: v for k, v in mine1.items() if k != "et"} == {
        "t": None, "f": queue.DELIVER, "a": ("d1",), "k": {}}
    assert {k: v for k, v in arq1.items() if k not in ("et", "a")} == {
        k: v for k, v in mine1.items() if k not in ("et", "a")}
    assert score1 == mine1["et"] and arq_score1 == arq1["et"]     # due now: scored by enqueue
    assert abs(ttl1 - arq_ttl1) < 5_000                           # a day, as arq gives
    mine2, score2, ttl2 = await _state(redis, queue.job_id("d2"))
    _, arq_score2, arq_ttl2 = await _state(redis, "arq:a2")
    assert score2 == arq_score2 == to_unix_ms(later)   # deferred to its due time
    assert abs(ttl2 - arq_ttl2) < 5_000
    _, score3, _ = await _state(redis, queue.job_id("d3"))
    assert score3 == (await _state(redis, queue.job_id("d3")))[0]["et"]   # not in the future


async def test_a_job_queued_or_with_a_kept_result_is_not_enqueued_again(redis):
    now = datetime.now(UTC)
    assert await queue.enqueue(redis, "d1", due_at=None, now=now)
    await redis.set(result_key_prefix + queue.job_id("d2"), b"done")   # ran, result kept
    before = await redis.get(job_key_prefix + queue.job_id("d1"))
    assert await queue.enqueue_all(redis, [("d1", None), ("d2", None), ("d3", None)], now) == 1
    assert await redis.get(job_key_prefix + queue.job_id("d1")) == before   # untouched
    assert await redis.get(job_key_prefix + queue.job_id("d2")) is None
    assert sorted(j.decode() for j in await redis.zrange(default_queue_name, 0, -1)) == [
        queue.job_id("d1"), queue.job_id("d3")]
    assert not await queue.enqueue(redis, "d3", due_at=None, now=now)
    assert await queue.enqueue_all(redis, [], now) == 0


async def test_one_wake_up_per_batch_and_none_when_nothing_was_new(redis):
    pubsub = redis.pubsub()
    await pubsub.subscribe(queue.WAKE_CHANNEL)
    await pubsub.get_message(timeout=1)           # the subscribe confirmation
    now = datetime.now(UTC)
    await queue.enqueue_all(redis, [("d1", None), ("d2", None)], now)
    await queue.enqueue_all(redis, [("d1", None), ("d2", None)], now)   # nothing new
    await queue.enqueue_edits(redis, ["e1"])
    got = []
    for _ in range(3):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3)
        if message is not None:
            got.append(message["data"])
    assert got == [b"1", b"1"]
    await pubsub.aclose()


async def test_edits_are_arq_jobs_of_their_own_function(redis):
    assert await queue.enqueue_edits(redis, ["e1", "e2"]) == 2
    assert await queue.enqueue_edits(redis, ["e1"]) == 0
    job, _, _ = await _state(redis, "edit:e1")
    assert (job["f"], job["a"]) == (queue.EDIT, ("e1",))


async def test_redis_forgetting_its_scripts_changes_nothing(redis):
    now = datetime.now(UTC)
    assert await queue.enqueue_all(redis, [("d1", None)], now) == 1
    await redis.script_flush()
    assert await queue.enqueue_all(redis, [("d1", None), ("d2", None)], now) == 1
    assert await redis.zcard(default_queue_name) == 2
