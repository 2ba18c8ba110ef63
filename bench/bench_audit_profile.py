"""Where the time of one audit answer goes: cProfile over many calls on a database that
``bench_audit.py --keep DIR`` generated (SQLite), or on PostgreSQL via ``--url``.

    .venv/bin/python bench/bench_audit_profile.py /tmp/audit-bench/audit-1000000.db --calls 300
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_audit import _hub  # noqa: E402
from bench.bench_audit_data import Dataset  # noqa: E402
from hub.services.audit_post import post_audit  # noqa: E402
from hub.services.audit_queries import person_audit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", help="the SQLite file (its .json dataset beside it)")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--answer", choices=["person", "post"], default="person")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    db = Path(args.db)
    data = Dataset(**json.loads(db.with_suffix(".json").read_text()))
    with tempfile.TemporaryDirectory() as tmp:
        hub = _hub(f"sqlite:///{db}", Path(tmp))
        rnd = random.Random(7)
        posts = data.list_posts + data.public_posts
        call = ((lambda: person_audit(hub, rnd.choice(data.people))) if args.answer == "person"
                else (lambda: post_audit(hub, rnd.choice(posts))))
        for _ in range(20):
            call()     # warm: caches, statement cache, page cache
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.calls):
            call()
        prof.disable()
        hub.db.dispose()
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
