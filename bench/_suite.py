"""The suite's frame: a measure is a pair of runs (baseline, subject) opened once and run in
alternation for several rounds; each round gives one ratio per figure, and the table shows
their min / median / max beside the goal.

A measure module exposes ``MEASURES``: a list of :class:`Measure`. ``open`` is a context
manager that starts whatever both runs need (servers, a database) and yields a :class:`Pair`.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

Figures = dict[str, float]


class Pair(Protocol):
    def baseline(self) -> Figures: ...
    def subject(self) -> Figures: ...


@dataclass(frozen=True)
class Ratio:
    """One line of the table: ``value(baseline, subject)`` per round, checked by ``met``.

    ``show`` names the raw figure printed for subject and baseline (e.g. ``p99_ms``)."""

    label: str
    value: Callable[[Figures, Figures], float]
    goal: str
    met: Callable[[float, Figures], bool]
    show: str
    base_show: str = ""
    """The baseline's figure to print, when it is not named ``show`` too."""


@dataclass(frozen=True)
class Measure:
    name: str
    open: Callable[[], AbstractContextManager[Pair]]
    ratios: tuple[Ratio, ...]


@dataclass
class Result:
    measure: str
    ratio: Ratio
    rounds: list[tuple[Figures, Figures]] = field(default_factory=list)

    def values(self) -> list[float]:
        return [self.ratio.value(b, s) for b, s in self.rounds]

    def median_of(self, side: int, key: str) -> float:
        return statistics.median(r[side][key] for r in self.rounds)

    def row(self) -> dict[str, Any]:
        v = self.values()
        med = statistics.median(v)
        subject = {k: statistics.median(r[1][k] for r in self.rounds) for k in self.rounds[0][1]}
        return {"measure": self.measure, "figure": self.ratio.label,
                "subject": round(self.median_of(1, self.ratio.show), 3),
                "baseline": round(self.median_of(0, self.ratio.base_show or self.ratio.show), 3),
                "unit": self.ratio.show, "base_unit": self.ratio.base_show or self.ratio.show,
                "ratio_min": round(min(v), 3),
                "ratio_median": round(med, 3), "ratio_max": round(max(v), 3),
                "goal": self.ratio.goal, "met": bool(self.ratio.met(med, subject)),
                "rounds": [{"baseline": b, "subject": s} for b, s in self.rounds]}


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def run(measures: list[Measure], rounds: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Open each measure, then baseline, subject, baseline, subject… for ``rounds`` rounds."""
    rows: list[dict[str, Any]] = []
    for m in measures:
        started, before = time.monotonic(), load()
        log(f"== {m.name} (load {before})")
        pairs: list[tuple[Figures, Figures]] = []
        try:
            with m.open() as pair:
                for n in range(rounds):
                    b = pair.baseline()
                    s = pair.subject()
                    pairs.append((b, s))
                    log(f"   round {n + 1}: baseline {_short(b)} | subject {_short(s)}")
        except Exception as exc:  # one broken measure must not hide the others' figures
            log(f"   FAILED: {type(exc).__name__}: {exc}")
            rows.append({"measure": m.name, "error": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        for ratio in m.ratios:
            result = Result(m.name, ratio, pairs)
            row = result.row()
            row["load"] = f"{before} -> {load()}"
            row["seconds"] = round(time.monotonic() - started, 1)
            rows.append(row)
    return rows


def _short(f: Figures) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in f.items())


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| measure | figure | subject | baseline | ratio min / median / max | goal | met? "
            "| load 1m/5m |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['measure']} | — | — | — | failed: {r['error']} | | no | |")
            continue
        lines.append(
            f"| {r['measure']} | {r['figure']} | {r['subject']:g} {r['unit']} "
            f"| {r['baseline']:g} {r.get('base_unit', r['unit'])} "
            f"| {r['ratio_min']:g} / **{r['ratio_median']:g}** / {r['ratio_max']:g} "
            f"| {r['goal']} | {'yes' if r['met'] else 'no'} | {r['load']} |")
    return "\n".join(lines)


def dump(rows: list[dict[str, Any]], path: str) -> None:
    with open(path, "w") as f:
        json.dump({"cpus": os.cpu_count(), "python": sys.version.split()[0], "rows": rows}, f,
                  indent=1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def iter_chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))
