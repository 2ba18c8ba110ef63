"""The people and list pages at 10,000 people (issue 17 item 3: each ≤ 300 ms): ``GET /people``
(first page, a search, a filter), ``GET /lists/l0`` (about 750 members, each with why) and
``GET /lists/kept`` (a rule list over three lists), from a logged-in client of a real
``hub serve`` on SQLite, beside ``GET /healthz`` from the same client.

Runs in the suite (``python -m bench --only pages_people``) or alone
(``python -m bench.m_pages_people``)."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bench._procs import hub_dir
from bench._suite import Figures, Measure, Ratio
from bench.m_people import LISTS, PEOPLE, fill

POLICY = """\
version: 1
accounts: [feed:site]
targets:
  l0-feed: {account: feed:site, list: l0}
  kept-feed: {account: feed:site, list: kept}
audiences:
  l0: {reach: recipients, targets: [l0-feed]}
  kept: {reach: recipients, targets: [kept-feed]}
"""
RULE_LISTS = "lists:\n  kept: {rule: (l1 or l2) and not l3}\n"
PAGES = {"people": "/people", "people_search": "/people?q=person+12",
         "people_filter": "/people?list=l4&network=mastodon", "list": "/lists/l0",
         "rule_list": "/lists/kept"}
PASSWORD = "bench-password-long-enough"


def _timed(client: httpx.Client, path: str, n: int = 7) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append(time.perf_counter() - t0)
        assert r.status_code == 200, (path, r.status_code)
    return statistics.median(times) * 1000


class PagesPair:
    def __init__(self, client: httpx.Client, hub: Any) -> None:
        self.client, self.hub = client, hub

    def _after_change(self) -> float:
        """A change to the book (a note: the trigger bumps its version), then ``/people``:
        the snapshot is read again and sorted once."""
        from sqlalchemy import text

        times = []
        for _ in range(3):
            with self.hub.db.transaction() as s:
                s.execute(text("UPDATE person SET note = note || '.' "
                               "WHERE id = 'pbench000001'"))
            t0 = time.perf_counter()
            assert self.client.get("/people").status_code == 200
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    def baseline(self) -> Figures:
        return {"ms": _timed(self.client, "/healthz")}

    def subject(self) -> Figures:
        figures = {f"{name}_ms": _timed(self.client, path) for name, path in PAGES.items()}
        figures["ms"] = max(figures.values())
        figures["after_change_ms"] = self._after_change()
        return figures


@contextmanager
def _open() -> Iterator[PagesPair]:
    from hub.services.owner import set_password

    with hub_dir(POLICY) as hd:
        hub = hd.build()
        fill(hub)
        set_password(hub, PASSWORD)
        (hd.tmp / "policies" / "hub.yaml").write_text(POLICY + RULE_LISTS)   # lists exist now
        with hd.serve() as (port, _pid), httpx.Client(
                base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            page = client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            r = client.post("/login", data={"password": PASSWORD, "next": "/people",
                                             "csrf_token": token.group(1)})
            assert r.status_code == 303, r.text
            for path in PAGES.values():   # the first read builds the snapshot and its order
                assert client.get(path).status_code == 200
            try:
                yield PagesPair(client, hub)
            finally:
                hub.db.dispose()


def _ratio(name: str) -> Ratio:
    figure = f"{name}_ms"

    def value(b: Figures, s: Figures) -> float:
        return s[figure] / b["ms"]

    def met(r: float, s: Figures) -> bool:
        return s[figure] <= 300

    return Ratio(f"GET {PAGES[name]}", value, "≤ 300 ms absolute", met, figure, "ms")


def _after(b: Figures, s: Figures) -> float:
    return s["after_change_ms"] / b["ms"]


MEASURES = [Measure(f"people and list pages, {PEOPLE:,} people in {LISTS} lists vs /healthz",
                    _open, (*(_ratio(name) for name in PAGES),
                            Ratio("GET /people, first after a change", _after, "(reported)",
                                  lambda r, s: True, "after_change_ms", "ms")))]


if __name__ == "__main__":
    with _open() as pair:
        base: Any = pair.baseline()
        subject = pair.subject()
        for name, path in PAGES.items():
            print(f"{path:<40} {subject[name + '_ms']:8.1f} ms   (/healthz {base['ms']:.1f} ms)")
        print(f"{'/people after a change':<40} {subject['after_change_ms']:8.1f} ms")
