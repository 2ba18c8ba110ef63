"""The fault suite: a few hundred posts to several targets through the distributed topology
(web + 3 ``hub worker`` processes + a private Redis + PostgreSQL) while workers are killed
with SIGKILL at random moments and right after a platform stored a message, Redis is killed
and restarted empty twice, and the platforms answer 4xx/5xx, 429 and time out.

Afterwards, reading the platforms themselves: every allowed delivery is there exactly once,
nothing reached a denied target, every delivery is final with a reason, and the audit chain
verifies with one outcome event per delivery. Seeded: the same faults in the same order.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from hub.services.posts import FINAL
from hub.store.tables import AuditQueueRow, AuditRow, DeliveryRow, PostRow
from tests.conftest import wait_until
from tests.faults.channels import MatrixRoom, Webhook
from tests.faults.conftest import Cluster, cluster, post, require_services
from tests.faults.platforms import Bluesky, Email, Feed, Mastodon, Platform, every_target
from tests.faults.smtp import Received

pytestmark = pytest.mark.integration

SEED = 20261123
WORKERS = 3
CHAOS_SECONDS = 34.0
SETTLE_SECONDS = 240.0
TERMINAL = {"DeliverySucceeded": "published", "DeliveryFailed": "failed",
            "DeliveryDenied": "denied", "DeliveryRejected": "rejected"}
SECRET_TARGETS = ("clients-mail", "masto-public", "bsky")


def platforms(pds: Any, synapse: Any) -> list[Platform]:
    """The platforms under test, each read back by the test itself."""
    chosen: list[Platform] = [Email(), Feed(), Mastodon()]
    bluesky = Bluesky(pds)
    bluesky.merge_into(chosen)
    webhook = Webhook()
    webhook.merge_into(chosen)
    room = MatrixRoom(synapse)
    room.merge_into(chosen)
    return [*chosen, bluesky, webhook, room]


@dataclass(frozen=True)
class Planned:
    n: int
    audiences: tuple[str, ...]
    tags: tuple[str, ...] = ()
    delay: float | None = None           # scheduled this many seconds after submission

    @property
    def marker(self) -> str:
        return f"[m{self.n:03d}]"

    def body(self, start: datetime) -> dict[str, object]:
        body: dict[str, object] = {"text": f"fault post {self.marker} for "
                                           f"{', '.join(self.audiences)}",
                                   "audiences": list(self.audiences), "tags": list(self.tags)}
        if self.delay is not None:
            body["schedule_at"] = (start + timedelta(seconds=self.delay)).isoformat()
        return body


def plan(rng: random.Random, audiences: set[str]) -> tuple[list[Planned], list[Planned]]:
    """(scheduled posts, submitted first; immediate posts, in a seeded order)."""
    n = iter(range(1, 10_000))
    kinds: list[tuple[int, tuple[str, ...], tuple[str, ...]]] = [
        (70, ("friends",), ()), (40, ("clients",), ()), (40, ("readers",), ()),
        (20, ("friends", "clients"), ("secret",)),
    ]
    if "public" in audiences:
        kinds += [(40, ("public",), ()), (10, ("public", "friends"), ("secret",))]
    now = [Planned(next(n), a, t) for count, a, t in kinds for _ in range(count)]
    rng.shuffle(now)
    embargoed = ("friends", "public") if "public" in audiences else ("friends",)
    later = [Planned(next(n), ("friends",), ("later",), delay=20.0) for _ in range(15)]
    later += [Planned(next(n), embargoed, ("embargo",), delay=26.0) for _ in range(20)]
    return later, now


class Chaos(threading.Thread):
    """Runs a seeded timeline of faults beside the posting; replaces killed workers."""

    def __init__(self, c: Cluster, rng: random.Random) -> None:
        super().__init__(name="chaos", daemon=True)
        self.c = c
        self.rng = rng
        self.stop = threading.Event()
        self.events: list[tuple[float, str]] = []
        self.redis_restarts = 0
        self.errors: list[BaseException] = []
        timeline: list[tuple[float, str]] = [(11.0, "redis"), (26.0, "redis"), (7.0, "window")]
        t = 4.0
        while t < CHAOS_SECONDS:
            timeline.append((t, "kill"))
            t += rng.uniform(2.0, 3.5)
        t = 2.0
        while t < CHAOS_SECONDS:
            timeline.append((t, "fault"))
            t += rng.uniform(0.5, 1.2)
        self.timeline = sorted(timeline)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)

    def _run(self) -> None:
        start = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic() - start
            self.c.replace_dead_workers()
            while self.timeline and self.timeline[0][0] <= now:
                _, action = self.timeline.pop(0)
                getattr(self, f"_{action}")(now)
            if not self.timeline:
                break
            self.stop.wait(0.1)
        self.c.replace_dead_workers()

    def _kill(self, now: float) -> None:
        beating = self.c.beating()          # only workers that are up and working
        ready = [w for w in self.c.topology.workers if w.poll() is None and w.pid in beating]
        if ready:
            victim = self.rng.choice(ready)
            self.c.kill(victim, "random moment")
            self.events.append((now, f"kill -9 worker {victim.pid}"))
        elif now < CHAOS_SECONDS + 15:
            # every worker is still starting (slow on a loaded machine): try again shortly,
            # so the kills the timeline planned all happen
            self.timeline = sorted([*self.timeline, (now + 0.5, "kill")])

    def _redis(self, now: float) -> None:
        self.c.topology.redis.restart_empty(down_for=1.0)
        self.redis_restarts += 1
        self.events.append((now, "Redis killed, restarted empty"))

    def _fault(self, now: float) -> None:
        faulty = [p for p in self.c.platforms if type(p).inject is not Platform.inject]
        self.rng.choice(faulty).inject(self.rng)

    def _window(self, now: float) -> None:
        email = next((p for p in self.c.platforms if isinstance(p, Email)), None)
        if email is not None:
            email.server.inbox.kill_window(3, self._kill_sender)
            self.events.append((now, "armed: kill the sender of the next 3 stored mails"))

    def _kill_sender(self, received: Received) -> None:
        key = re.match(r"<([^.@>]+)", received.message_id)
        pid = self.c.owner_pid(key.group(1)) if key else None
        if pid is not None:
            self.c.kill_pid(pid, "after the SMTP server stored its message")


def _wait_final(c: Cluster, deadline: float) -> list[DeliveryRow]:
    while True:
        with c.hub.db.read() as s:
            rows = list(s.exec(select(DeliveryRow)))
        if rows and all(r.status in FINAL for r in rows):
            return rows
        if time.monotonic() > deadline:
            states = Counter(r.status for r in rows)
            stuck = [(r.id, r.target, r.status, r.attempts, r.last_error, r.due_at)
                     for r in rows if r.status not in FINAL][:10]
            raise AssertionError(f"deliveries not final after the faults: {dict(states)}; "
                                 f"e.g. {stuck}; logs in {c.topology.log_dir}")
        time.sleep(0.5)


@pytest.mark.timeout(480)
def test_nothing_lost_duplicated_or_leaked_under_faults(tmp_path: Path, pds: Any,
                                                        synapse: Any) -> None:
    require_services()
    rng = random.Random(SEED)
    under_test = platforms(pds, synapse)
    targets = {name for name, _ in every_target(under_test)}
    rules = ("  - id: secret-stays-home\n    deny: {tags: [secret], targets: ["
             + ", ".join(t for t in SECRET_TARGETS if t in targets) + "]}\n")
    audiences = {a for p in under_test for a in p.audiences}
    later, now = plan(rng, audiences)
    with cluster(tmp_path, under_test, rules, workers=WORKERS) as c, \
            httpx.Client(base_url=c.api, timeout=30) as client:
        started = time.monotonic()
        submitted: dict[int, str] = {}
        start = datetime.now(UTC)
        for p in later:
            submitted[p.n] = str(post(client, c.token, p.body(start))["id"])
        # a rule added after scheduling must still stop those posts when they fall due
        c.reload_policy(c.policy_file.read_text() + "  - id: embargo\n    deny: {tags: "
                        "[embargo]}\n")
        chaos = Chaos(c, rng)
        chaos.start()
        pace = 24.0 / len(now)
        for i, p in enumerate(now):
            submitted[p.n] = str(post(client, c.token, p.body(start))["id"])
            time.sleep(max(0.0, started + 2.0 + i * pace - time.monotonic()))
        chaos.join(CHAOS_SECONDS + 30)
        chaos.stop.set()
        assert not chaos.errors, chaos.errors
        for platform in c.platforms:
            platform.calm()
        rows = _wait_final(c, time.monotonic() + SETTLE_SECONDS)
        settled = time.monotonic() - started
        report = _verify(c, later + now, submitted, rows)
        report.update(seconds=round(settled, 1), kills=len(c.kills),
                      redis_restarts=chaos.redis_restarts,
                      platform_faults={k: v for p in c.platforms for k, v in p.faults.items()},
                      workers_alive=len(c.topology.live_workers()))
        (tmp_path / "fault-report.json").write_text(json.dumps(report, indent=2, default=str))
        print("\nfault suite:", json.dumps(report, default=str))
        assert report["kills"] >= 5 and chaos.redis_restarts == 2
        assert sum(report["platform_faults"].values()) >= 20


def _nothing_queued(c: Cluster) -> bool:
    with c.hub.db.read() as s:
        return s.exec(select(AuditQueueRow.id).limit(1)).first() is None


def _verify(c: Cluster, planned: list[Planned], submitted: dict[int, str],
            rows: list[DeliveryRow]) -> dict[str, object]:
    by_post: dict[str, dict[str, DeliveryRow]] = {}
    for r in rows:
        by_post.setdefault(r.post_id, {})[r.target] = r
    platform_of = dict(every_target(c.platforms))
    audience_targets = {a: t for p in c.platforms for a, (_, t) in p.audiences.items()}
    checked = Counter[str]()
    problems: list[str] = []
    for p in planned:
        post_id = submitted[p.n]
        for target in {t for a in p.audiences for t in audience_targets[a]}:
            secret = "secret" in p.tags and target in SECRET_TARGETS
            embargo = "embargo" in p.tags
            row = by_post.get(post_id, {}).get(target)
            found = platform_of[target].copies(p.marker, target)
            if secret:
                ok = row is None and not found
                checked["denied at submit"] += 1
            elif embargo:
                ok = row is not None and row.status == "denied" and not found \
                    and "embargo" in row.last_error
                checked["denied at publish"] += 1
            else:
                want = platform_of[target].expected(target)
                ok = row is not None and row.status == "published" and \
                    found == {place: 1 for place in want}
                checked[f"published to {target}"] += 1
            if not ok:
                problems.append(f"{p.marker} {target}: row "
                                f"{row.status if row else None!r} "
                                f"({row.last_error if row else ''}), on the platform {found}")
    assert not problems, f"{len(problems)} wrong outcomes:\n" + "\n".join(problems[:30])
    # every delivery final, with a reason
    for r in rows:
        assert r.status in FINAL
        assert (r.remote_id if r.status == "published" else r.last_error), r
    # the audit: the cluster's own sequencers (web and workers, killed or not) sequence every
    # queued event; then the chain verifies, one outcome event per delivery, matching its state
    wait_until(lambda: _nothing_queued(c), timeout=30, what="the sequencers to drain the queue")
    with c.hub.db.read() as s:
        result = c.hub.audit.verify(s)
        outcomes = s.exec(select(AuditRow.name, AuditRow.delivery_id)
                          .where(col(AuditRow.name).in_(list(TERMINAL)))).all()
        route_events = s.exec(select(AuditRow.payload).where(AuditRow.name == "RouteDecided")
                              ).all()
        posts = s.exec(select(PostRow.id)).all()
    assert result.ok, result.problem
    per_delivery = Counter(d for _, d in outcomes)
    assert set(per_delivery) == {r.id for r in rows}
    assert set(per_delivery.values()) == {1}, [d for d, n in per_delivery.items() if n > 1]
    status = {r.id: r.status for r in rows}
    assert all(TERMINAL[name] == status[d] for name, d in outcomes)
    assert sum(1 for e in route_events if e["phase"] == "submit") == len(posts) == len(planned)
    notes = {p.name: p.notes() for p in c.platforms if p.notes()}
    for name, note in notes.items():
        assert not note.get("contract_violations"), (name, note["contract_violations"])
    # SMTP has no idempotency key: a worker killed after the server stored a message and
    # before the hub recorded it resends it, with the same Message-ID (mail clients show one).
    # Such a resend is only ever a delivery that a killed worker was holding.
    held = {d for kill in c.kills for d in kill["held"]}   # type: ignore[attr-defined]
    by_key = {r.key: r.id for r in rows}
    for p in c.platforms:
        if isinstance(p, Email):
            resent = {by_key.get(k, k) for k in p.resent_keys()}
            assert resent <= held, f"resent without a kill: {resent - held}"
    recovery = []      # seconds from a kill to the last of its deliveries being final
    for kill in c.kills:
        held = [r for r in rows if r.id in kill["held"]]   # type: ignore[operator]
        if held:
            recovery.append(round(max((r.finished - kill["wall"]).total_seconds()  # type: ignore[operator]
                                      for r in held if r.finished is not None), 1))
    return {"posts": len(planned), "deliveries": len(rows),
            "states": dict(Counter(r.status for r in rows)), "checked": dict(checked),
            "audit_outcome_events": len(outcomes), "platforms": notes,
            "recovery_seconds_after_kill": sorted(recovery),
            "attempts_max": max(r.attempts for r in rows)}
