"""The policy engine: ``route()`` for one post against 500 rules and 50 targets.

Baseline, measured in the same run and interleaved with the subject (baseline, subject,
baseline …): a plain loop of 500 × 50 dict look-ups, the least any evaluation that looks at every
(rule, target) pair must cost. Goals (issue 13): ≤ 1 ms per route(), ≤ 2× the look-up loop.
The straightforward evaluator the tests keep as the reference is timed too, for scale.

    .venv/bin/python bench/bench_policy.py [--rounds 5] [--repeat 30] [--rules 500] [--targets 50]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.domain.model import (  # noqa: E402
    Identity,
    IdentityKind,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
    Reach,
    Target,
)
from hub.policy import Action, Audience, Conditions, Policy, Requirement, Rule, route  # noqa: E402
from tests.unit.policy_reference import reference_route  # noqa: E402

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
PLATFORMS = ("email", "feed", "bluesky", "mastodon")
WORDS = ("salary", "secret", "launch", "diagnosis", "address", "invoice", "holiday", "party")


def make_policy(n_rules: int, n_targets: int, rng: random.Random) -> Policy:
    """A large but ordinary policy: targets on every platform, a dozen audiences, rules that
    mostly test tags, some audiences, targets, platforms, reach, text, mentions, time, author."""
    targets = {}
    for i in range(n_targets):
        platform = PLATFORMS[i % 4]
        reach = {"email": Reach.RECIPIENTS, "feed": Reach.RECIPIENTS, "bluesky": Reach.WORLD,
                 "mastodon": rng.choice([Reach.WORLD, Reach.FOLLOWERS, Reach.RECIPIENTS])}
        targets[f"t{i}"] = Target(f"t{i}", f"{platform}:acct{i % 3}", reach[platform],
                                  {"list": f"list{i % 5}"})
    names = list(targets)
    audiences = {f"a{i}": Audience(f"a{i}", rng.choice(list(Reach)),
                                   tuple(rng.sample(names, 8))) for i in range(12)}
    tags = [f"tag{i}" for i in range(120)]
    rules = []
    for i in range(n_rules):
        kind = rng.random()
        c: dict[str, object] = {"tags": tuple(rng.sample(tags, rng.randint(1, 3)))}
        if kind < 0.15:
            c["audiences"] = (rng.choice(list(audiences)),)
        elif kind < 0.30:
            c["targets"] = tuple(rng.sample(names, 2))
        elif kind < 0.45:
            c["platforms"] = (rng.choice(PLATFORMS),)
        elif kind < 0.60:
            c["reach"] = (rng.choice(list(Reach)),)
        elif kind < 0.70:
            c = {"text": (re.compile(rf"\b{rng.choice(WORDS)}{i}\b", re.IGNORECASE),)}
        elif kind < 0.75:
            c = {"mentions_member_of": (f"list{rng.randint(0, 4)}",),
                 "reach": (Reach.WORLD,)}
        elif kind < 0.80:
            c["hours"] = (22 * 60, 7 * 60)
            c["timezone"] = "Europe/Berlin"
        elif kind < 0.85:
            c["author"] = ("token:*",)
        action = rng.choice([Action.DENY, Action.DENY, Action.HOLD, Action.REQUIRE])
        rules.append(Rule(f"r{i}", action, Conditions(**c),  # type: ignore[arg-type]
                          Requirement.CONTENT_WARNING if action is Action.REQUIRE else None))
    return Policy(version=1, accounts=(), targets=targets, audiences=audiences,
                  rules=tuple(rules), digest="bench")


def make_people(rng: random.Random, n: int = 200) -> PeopleSnapshot:
    people = {PersonId(f"p{i}"): Person(PersonId(f"p{i}"), f"Person {i}", (
        Identity(IdentityKind.EMAIL, f"p{i}@example.org"),
        Identity(IdentityKind.MASTODON, f"@p{i}@example.social"))) for i in range(n)}
    lists = {f"list{k}": frozenset(PersonId(f"p{i}") for i in range(n) if i % 5 == k)
             for k in range(5)}
    return PeopleSnapshot(people, lists)


def make_post() -> Post:
    return Post(PostId("bench"), "Sunday lunch at mum's #tag7 with @p3@example.social — "
                "see https://example.org/menu #Tag42", ("a0", "a3", "a7"), NOW,
                tags=("tag11", "holiday"), content_warning="food talk")


def baseline_loop(lookup: dict[str, int], rule_ids: list[str], targets: list[str]) -> int:
    """500 × 50 dict look-ups: one per (rule, target) pair."""
    hits = 0
    for _ in targets:
        for rule_id in rule_ids:
            hits += lookup[rule_id]
    return hits


def per_call(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds per call over ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class PolicyPair:
    """For ``python -m bench``: the look-up loop as baseline, route() as subject."""

    def __init__(self, repeat: int = 30, n_rules: int = 500, n_targets: int = 50) -> None:
        rng = random.Random(20261201)
        self.policy, self.people, self.post = make_policy(n_rules, n_targets, rng), \
            make_people(rng), make_post()
        self.policy.compiled  # noqa: B018  (compiled once, as at load)
        self.rule_ids = [r.id for r in self.policy.rules]
        self.lookup = {r: i for i, r in enumerate(self.rule_ids)}
        self.targets = list(self.policy.targets)
        self.repeat = repeat

    def baseline(self) -> dict[str, float]:
        return {"ms": 1000 * per_call(
            lambda: baseline_loop(self.lookup, self.rule_ids, self.targets), self.repeat)}

    def subject(self) -> dict[str, float]:
        return {"ms": 1000 * per_call(
            lambda: route(self.post, self.policy, self.people, NOW), self.repeat)}


def _measures() -> list[object]:
    from collections.abc import Iterator
    from contextlib import contextmanager

    from bench._suite import Measure, Ratio

    @contextmanager
    def opened() -> Iterator[PolicyPair]:
        yield PolicyPair()

    return [Measure("route(): 500 rules × 50 targets vs 500×50 dict look-ups", opened, (
        Ratio("route() / look-up loop", lambda b, s: s["ms"] / b["ms"], "≤ 2×",
              lambda r, s: r <= 2, "ms"),
        Ratio("route() per call", lambda b, s: s["ms"], "≤ 1 ms absolute",
              lambda r, s: s["ms"] <= 1, "ms")))]


MEASURES = _measures() if __name__ != "__main__" else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=30, help="calls per measurement")
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument("--targets", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(20261201)
    policy, people, post = make_policy(args.rules, args.targets, rng), make_people(rng), \
        make_post()
    start = time.perf_counter()
    policy.compiled  # noqa: B018  (compiled once, as at load)
    compile_ms = (time.perf_counter() - start) * 1000
    rule_ids = [r.id for r in policy.rules]
    lookup = {r: i for i, r in enumerate(rule_ids)}
    target_names = list(policy.targets)
    assert route(post, policy, people, NOW) == reference_route(post, policy, people, NOW)

    rows: dict[str, list[float]] = {"baseline": [], "route": [], "reference": []}
    for _ in range(args.rounds):      # interleaved: baseline, subject, baseline, reference …
        rows["baseline"].append(per_call(lambda: baseline_loop(lookup, rule_ids, target_names),
                                         args.repeat))
        rows["route"].append(per_call(lambda: route(post, policy, people, NOW), args.repeat))
        base = per_call(lambda: baseline_loop(lookup, rule_ids, target_names), args.repeat)
        rows["baseline"].append(base)
        rows["reference"].append(per_call(lambda: reference_route(post, policy, people, NOW),
                                          max(3, args.repeat // 10)))
    route_ratio = [r / b for r, b in zip(rows["route"], rows["baseline"][0::2], strict=True)]
    ref_ratio = [r / b for r, b in zip(rows["reference"], rows["baseline"][1::2], strict=True)]

    def ms(values: list[float]) -> str:
        return (f"{min(values) * 1000:8.3f} {statistics.median(values) * 1000:8.3f} "
                f"{max(values) * 1000:8.3f}")

    def ratio(values: list[float]) -> str:
        return f"{min(values):7.2f}× {statistics.median(values):7.2f}× {max(values):7.2f}×"

    print(f"route(): {args.rules} rules × {args.targets} targets, {args.rounds} rounds × "
          f"{args.repeat} calls; load average {os.getloadavg()[0]:.2f}; "
          f"compiled once in {compile_ms:.1f} ms")
    print(f"{'measure':<28} {'min ms':>8} {'median':>8} {'max ms':>8}   ratio to baseline "
          "(min / median / max)")
    print(f"{'baseline: 500×50 look-ups':<28} {ms(rows['baseline'])}")
    print(f"{'route() (compiled)':<28} {ms(rows['route'])}   {ratio(route_ratio)}")
    print(f"{'reference evaluator':<28} {ms(rows['reference'])}   {ratio(ref_ratio)}")
    median_ms = statistics.median(rows["route"]) * 1000
    print(f"goals: ≤ 1 ms → {median_ms:.3f} ms ({'met' if median_ms <= 1 else 'missed'}); "
          f"≤ 2× baseline → {statistics.median(route_ratio):.2f}× "
          f"({'met' if statistics.median(route_ratio) <= 2 else 'missed'})")


if __name__ == "__main__":
    main()
