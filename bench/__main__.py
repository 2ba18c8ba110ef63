"""``python -m bench``: every measure with its baseline interleaved, a table of ratios.

    .venv/bin/python -m bench                       # all measures, 3 rounds
    .venv/bin/python -m bench --rounds 5 --only submit,fanout --json bench-now.json
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

from bench._suite import dump, load, run, table

MODULES = {"fanout": "bench.m_fanout", "submit": "bench.m_submit", "workers": "bench.m_workers",
           "rss": "bench.m_rss", "people": "bench.m_people", "policy": "bench.m_policy",
           "pages": "bench.bench_pages", "pages_people": "bench.m_pages_people",
           "import": "bench.m_import", "contacts": "bench.m_contacts"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(MODULES))
    parser.add_argument("--json", default="", help="also write every round's figures here")
    args = parser.parse_args(argv)
    if args.rounds < 3:
        print("note: fewer than 3 rounds gives no spread worth reading", file=sys.stderr)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error(f"unknown measure {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    measures = []
    for name in names:
        measures.extend(importlib.import_module(MODULES[name]).MEASURES)
    started, before = time.monotonic(), load()

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    log(f"{len(measures)} measures, {args.rounds} rounds, {os.cpu_count()} CPUs, load {before}")
    rows = run(measures, args.rounds, log)
    print(table(rows))
    print(f"\n{args.rounds} rounds; load average (1m/5m) {before} at start, {load()} at end; "
          f"{time.monotonic() - started:.0f} s")
    if args.json:
        dump(rows, args.json)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
