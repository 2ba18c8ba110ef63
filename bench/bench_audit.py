"""Audit answers at scale: "which posts could this person see?" (first page) and "who could see
this post?" at 1,000,000 events and 10,000 people, on SQLite and PostgreSQL.

Each figure is given beside a baseline measured in the same run on the same database: a bare
indexed SELECT of one page of rows (per person: one member's newest 50 index rows; per post: the
post's events by ``post_id``). Service calls and baseline queries are interleaved, sample by
sample, over several rounds, once the database is in the page cache (a steady state).
Goal: p95 <= 20 ms for both answers.

    .venv/bin/python bench/bench_audit.py                        # 1M events, both databases
    .venv/bin/python bench/bench_audit.py --events 100000 --db sqlite --rounds 3 --samples 200
    .venv/bin/python bench/bench_audit.py --keep /tmp/audit-bench  # reuse the SQLite file

PostgreSQL: ``HUB_TEST_POSTGRES`` (default postgresql://postgres@127.0.0.1:5432/test); the
benchmark works in a schema of its own and drops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_audit_data import Dataset, generate  # noqa: E402
from hub.bootstrap import build_hub  # noqa: E402
from hub.config import Settings  # noqa: E402
from hub.runtime import Hub  # noqa: E402
from hub.services.audit_post import post_audit  # noqa: E402
from hub.services.audit_queries import person_audit  # noqa: E402
from hub.store.db import make_engine  # noqa: E402
from hub.store.migrate import upgrade  # noqa: E402

PG_URL = os.environ.get("HUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
GOAL_MS = 20.0


def _ms(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1] if len(xs) >= 20 else max(xs)


def _hub(url: str, data_dir: Path) -> Hub:
    settings = Settings(data_dir=data_dir, database_url=url, policy_dir=ROOT / "policies",
                        secret_key="bench-secret-key-not-for-production")
    return build_hub(settings, publishers={})


def _measure(hub: Hub, data: Dataset, rounds: int, samples: int, seed: int
             ) -> dict[str, Any]:
    rnd = random.Random(seed)
    page_sql = text("SELECT * FROM audit_visibility WHERE member = :m "
                    "ORDER BY created DESC, id DESC LIMIT 50")
    post_sql = text("SELECT * FROM audit_event WHERE post_id = :p ORDER BY seq")

    def bare(sql: Any, **params: Any) -> Callable[[], Any]:
        def run() -> Any:
            with hub.db.read() as s:
                return s.connection().execute(sql, params).all()
        return run

    results: dict[str, dict[str, list[list[float]]]] = {
        "person": {"hub": [], "base": []}, "post": {"hub": [], "base": []}}
    posts = data.list_posts + data.public_posts
    for _ in range(rounds):
        cur = {k: {"hub": [], "base": []} for k in results}
        for i in range(samples):
            person = rnd.choice(data.people)
            post = rnd.choice(posts)
            pairs = [("person", lambda p=person: person_audit(hub, p),  # type: ignore[misc]
                      bare(page_sql, m=person)),
                     ("post", lambda p=post: post_audit(hub, p),  # type: ignore[misc]
                      bare(post_sql, p=post))]
            for kind, service, base in pairs:
                if i % 2:   # alternate which goes first
                    cur[kind]["hub"].append(_ms(service))
                    cur[kind]["base"].append(_ms(base))
                else:
                    cur[kind]["base"].append(_ms(base))
                    cur[kind]["hub"].append(_ms(service))
        for kind in results:
            results[kind]["hub"].append(cur[kind]["hub"])
            results[kind]["base"].append(cur[kind]["base"])
    return results


def _verify(hub: Hub, rounds: int) -> dict[str, Any]:
    """Full verification (chain + Merkle tree, bounded memory) beside a bare keyset scan of
    the same rows in the same chunk size: the ratio is the cost of hashing and checking."""
    scan = text("SELECT * FROM audit_event WHERE seq > :a ORDER BY seq LIMIT 5000")

    def bare() -> int:
        n, after = 0, 0
        while True:
            with hub.db.read() as s:
                rows = s.connection().execute(scan, {"a": after}).all()
            if not rows:
                return n
            n, after = n + len(rows), rows[-1].seq

    out: dict[str, list[float]] = {"verify_s": [], "scan_s": []}
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(rounds):
        out["scan_s"].append(_ms(bare) / 1000)
        result: list[Any] = []
        with hub.db.read() as s:
            def run(s: Any = s, got: list[Any] = result) -> None:
                got.append(hub.audit.verify(s))
            out["verify_s"].append(_ms(run) / 1000)
        assert result[0].ok, result[0].problem
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    row = {"verify_s": [round(x, 1) for x in out["verify_s"]],
           "scan_s": [round(x, 1) for x in out["scan_s"]],
           "ratio": round(statistics.median(out["verify_s"]) / statistics.median(out["scan_s"]),
                          1),
           "max_rss_growth_mb": round((rss - rss0) / 1024, 1)}
    print(f"verify   {row['verify_s']} s vs bare scan {row['scan_s']} s (ratio {row['ratio']}); "
          f"peak memory grew {row['max_rss_growth_mb']} MB")
    return row


def _report(db: str, data: Dataset, res: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"db": db, "events": data.events, "people": len(data.people),
                           "index_rows": data.index_rows, "generate_s": round(data.seconds, 1)}
    print(f"\n{db}: {data.events:,} events, {len(data.people):,} people, "
          f"{data.index_rows:,} index rows (generated in {data.seconds:.0f} s)")
    print(f"{'answer':<8} {'round':>5} {'hub p50':>9} {'hub p95':>9} {'base p50':>9} "
          f"{'base p95':>9} {'ratio p95':>9}")
    for kind, series in res.items():
        for r, (h, b) in enumerate(zip(series["hub"], series["base"], strict=True), 1):
            print(f"{kind:<8} {r:>5} {statistics.median(h):>9.2f} {p95(h):>9.2f} "
                  f"{statistics.median(b):>9.2f} {p95(b):>9.2f} {p95(h) / p95(b):>9.1f}")
        h_all = [x for xs in series["hub"] for x in xs]
        b_all = [x for xs in series["base"] for x in xs]
        row = {"hub_p50_ms": round(statistics.median(h_all), 2),
               "hub_p95_ms": round(p95(h_all), 2),
               "base_p50_ms": round(statistics.median(b_all), 2),
               "base_p95_ms": round(p95(b_all), 2),
               "ratio_p95": round(p95(h_all) / p95(b_all), 1),
               "round_p95_ms": [round(p95(xs), 2) for xs in series["hub"]],
               "goal_met": p95(h_all) <= GOAL_MS}
        out[kind] = row
        print(f"{kind:<8} {'all':>5} {row['hub_p50_ms']:>9.2f} {row['hub_p95_ms']:>9.2f} "
              f"{row['base_p50_ms']:>9.2f} {row['base_p95_ms']:>9.2f} {row['ratio_p95']:>9.1f}"
              f"   goal p95 <= {GOAL_MS:.0f} ms: {'met' if row['goal_met'] else 'NOT met'}")
    return out


def run_sqlite(args: argparse.Namespace) -> dict[str, Any]:
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-audit-"))
    base.mkdir(parents=True, exist_ok=True)
    db_file = base / f"audit-{args.events}.db"
    url = f"sqlite:///{db_file}"
    meta = base / f"audit-{args.events}.json"
    if db_file.exists() and meta.exists():
        data = Dataset(**json.loads(meta.read_text()))
        print(f"sqlite: reusing {db_file}")
    else:
        db_file.unlink(missing_ok=True)
        engine = make_engine(url)
        upgrade(engine)
        print(f"sqlite: generating {args.events:,} events in {db_file} …")
        data = generate(engine, events=args.events, people=args.people)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        engine.dispose()
        meta.write_text(json.dumps(data.__dict__))
    hub = _hub(url, base)
    with db_file.open("rb") as f:   # steady state: the database is in the page cache
        while f.read(1 << 24):
            pass
    try:
        out = _report("sqlite", data, _measure(hub, data, args.rounds, args.samples, 1))
        if args.verify_rounds:
            out["verify"] = _verify(hub, args.verify_rounds)
        return out
    finally:
        hub.db.dispose()
        if not args.keep:
            for f in base.glob("audit-*"):
                f.unlink()


def run_postgres(args: argparse.Namespace) -> dict[str, Any]:
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        engine = make_engine(url)
        upgrade(engine)
        print(f"postgresql: generating {args.events:,} events in schema {schema} …")
        data = generate(engine, events=args.events, people=args.people)
        engine.dispose()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            for table in ("audit_visibility", "audit_event", "audit_fetch", "person"):
                conn.execute(f"SELECT count(*) FROM {table}")   # steady state: cached
        with tempfile.TemporaryDirectory() as tmp:
            hub = _hub(url, Path(tmp))
            try:
                out = _report("postgresql", data,
                              _measure(hub, data, args.rounds, args.samples, 1))
                if args.verify_rounds:
                    out["verify"] = _verify(hub, args.verify_rounds)
                return out
            finally:
                hub.db.dispose()
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=300, help="per round and answer")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--keep", help="directory to keep (and reuse) the SQLite database")
    parser.add_argument("--verify-rounds", type=int, default=1,
                        help="full `verify` runs beside a bare scan (0: skip)")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    figures = []
    if args.db in ("sqlite", "both"):
        figures.append(run_sqlite(args))
    if args.db in ("postgresql", "both"):
        figures.append(run_postgres(args))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
