"""A large, realistic audit log, written with bulk inserts (executemany on SQLite, COPY on
PostgreSQL) for the audit benchmarks: people in lists, public and list posts, private-feed
fetches; a real hash chain, and the same who-could-see index rows the live path writes.

    generate(url, events=1_000_000, people=10_000) -> Dataset
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine

from hub.audit import GENESIS, canonical
from hub.audit.index import EventFacts, fetch_rows, visibility_rows
from hub.audit.merkle import Frontier, leaf_hash
from hub.audit.records import event_body, leaf_data
from hub.store.tables import AuditRow, FetchRow, TreeNodeRow, VisibilityRow

START = datetime(2025, 1, 1, tzinfo=UTC)
_PLAIN = (str, int, bool, float, type(None))


@dataclass
class Dataset:
    """What a benchmark samples from."""

    people: list[str] = field(default_factory=list)
    list_posts: list[str] = field(default_factory=list)
    public_posts: list[str] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)
    events: int = 0
    index_rows: int = 0
    seconds: float = 0.0


class _Writer:
    """Buffers rows per table and flushes them in bulk through the raw driver connection."""

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect.name
        self.raw = engine.raw_connection()
        self.buffers: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        self._times: dict[datetime, Any] = {}

    def add(self, table: str, row: dict[str, Any]) -> None:
        cols, rows = self.buffers.setdefault(table, (list(row), []))
        rows.append(tuple(v if type(v) in _PLAIN else self._value(v) for v in row.values()))
        if len(rows) >= 20_000:
            self.flush(table)

    def _value(self, v: Any) -> Any:
        if isinstance(v, datetime):
            done = self._times.get(v)
            if done is None:
                naive = v.astimezone(UTC).replace(tzinfo=None)
                done = (naive.strftime("%Y-%m-%d %H:%M:%S.%f") if self.dialect == "sqlite"
                        else naive)
                if len(self._times) > 1000:
                    self._times.clear()
                self._times[v] = done
            return done
        if isinstance(v, (dict, list)):
            return json.dumps(v, ensure_ascii=False)
        return v

    def flush(self, table: str) -> None:
        cols, rows = self.buffers[table]
        if not rows:
            return
        cur = self.raw.cursor()
        if self.dialect == "sqlite":
            marks = ",".join("?" for _ in cols)
            cur.executemany(f"INSERT INTO {table} ({','.join(cols)}) VALUES ({marks})", rows)
        else:
            with cur.copy(f"COPY {table} ({','.join(cols)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for r in rows:
                    copy.write_row(r)
        cur.close()
        rows.clear()

    def close(self) -> None:
        for table in list(self.buffers):
            self.flush(table)
        self.raw.commit()
        self.raw.close()


def generate(engine: Engine, *, events: int = 1_000_000, people: int = 10_000,
             lists: int = 500, seed: int = 7, progress: bool = True) -> Dataset:
    """Fill an empty, migrated database with about ``events`` audit events."""
    started = time.perf_counter()
    rnd = random.Random(seed)
    w = _Writer(engine)
    cur = w.raw.cursor()   # buffers flush in any order: foreign keys are checked by nobody
    if w.dialect == "sqlite":
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.execute("PRAGMA cache_size=-400000")
        cur.execute("BEGIN")   # the hub's engine runs SQLite in autocommit mode
    else:
        cur.execute("SET session_replication_role = replica")
    cur.close()
    indexes = _drop_indexes(engine)   # built once at the end: much faster than row by row
    data = Dataset()
    members = _people_and_lists(w, rnd, people, lists, data)
    snapshots = _snapshots(w, members)
    chain = _Chain(w, data)
    when = START
    n_post = 0
    while chain.seq < events:
        n_post += 1
        when += timedelta(seconds=rnd.randint(20, 90))
        kind = rnd.random()
        if kind < 0.1 and len(data.list_posts) > 20:   # a member's reader fetches a feed
            reader = rnd.choice(data.people)
            shown = rnd.sample(data.list_posts[-200:], 10)
            chain.append("FeedFetched", when, subject=reader,
                         payload={"feed": "friends", "post_ids": shown})
            continue
        post_id = f"p{n_post:09d}"
        public = kind < 0.65
        w.add("post", {"id": post_id, "text": f"post {n_post}", "audiences": ["x"],
                       "tags": [], "content_warning": None, "language": None,
                       "schedule_at": None, "media": [], "author": "owner", "created": when,
                       "policy_digest": "d" * 64, "deleted": None})
        chain.append("PostSubmitted", when, post_id=post_id,
                     payload={"text_sha256": "0" * 64, "audiences": ["x"], "tags": [],
                              "schedule_at": None, "media": []})
        chain.append("RouteDecided", when, post_id=post_id,
                     payload={"phase": "submit", "decisions": []})
        targets = ([("bsky", "bluesky:me", "world", None), ("masto", "mastodon:main", "world",
                                                               None)]
                   if public else [("feed", "feed:site", "recipients", rnd.randrange(lists))])
        for target, account, reach, list_no in targets:
            did = f"d{chain.seq:011d}"
            digest = snapshots["world" if list_no is None else list_no]
            payload = {"target": target, "account": account, "reach": reach,
                       "remote_id": did, "url": None, "lower_bound": False,
                       "recipients": 0 if list_no is None else len(members[list_no]),
                       "attempts": 1, "controls": {}}
            seq = chain.append("DeliverySucceeded", when + timedelta(seconds=1),
                               post_id=post_id, delivery_id=did, subject=digest,
                               payload=payload)
            facts = EventFacts(seq, "DeliverySucceeded", when + timedelta(seconds=1),
                               post_id, did, digest, payload)
            rows = visibility_rows(facts, [] if list_no is None else [
                {"member": p, "person_id": p, "identity": f"{p}@example.org",
                 "via_list": f"list{list_no}"} for p in members[list_no]], chain.rank)
            for r in rows:
                chain.rank = r["public_rank"] or chain.rank
                w.add("audit_visibility", r)
            data.index_rows += len(rows)
            data.deliveries.append(did)
        (data.public_posts if public else data.list_posts).append(post_id)
        if progress and n_post % 20_000 == 0:
            print(f"  … {chain.seq:,} events", flush=True)
    w.close()
    _create_indexes(engine, indexes)
    data.events = chain.seq
    data.seconds = time.perf_counter() - started
    return data


class _Chain:
    """Appends events with real chain hashes, tree nodes and fetch-index rows."""

    def __init__(self, w: _Writer, data: Dataset) -> None:
        self.w, self.data = w, data
        self.seq, self.prev, self.rank = 0, GENESIS, 0
        self.tree = Frontier()

    def append(self, name: str, when: datetime, *, post_id: str | None = None,
               delivery_id: str | None = None, subject: str | None = None,
               payload: dict[str, Any]) -> int:
        self.seq += 1
        row = SimpleNamespace(name=name, created=when, actor="bench", post_id=post_id,
                              delivery_id=delivery_id, subject=subject, policy_digest=None,
                              payload=payload)
        body = event_body(row)  # type: ignore[arg-type]
        digest = hashlib.sha256((self.prev + body).encode()).hexdigest()
        self.w.add("audit_event", {"seq": self.seq, "name": name, "created": when,
                                   "actor": "bench", "post_id": post_id,
                                   "delivery_id": delivery_id, "subject": subject,
                                   "policy_digest": None, "payload": payload,
                                   "prev_hash": self.prev, "hash": digest})
        for level, idx, h in self.tree.add(leaf_hash(leaf_data(self.seq, self.prev, digest,
                                                               body))):
            self.w.add("audit_tree", {"level": level, "idx": idx, "hash": h.hex(),
                                      "seq": self.seq if level == 0 else None})
        self.prev = digest
        if name == "FeedFetched":
            for r in fetch_rows(EventFacts(self.seq, name, when, post_id, delivery_id,
                                           subject, payload)):
                self.w.add("audit_fetch", r)
        return self.seq


_BULK = (AuditRow, VisibilityRow, FetchRow, TreeNodeRow)


def _drop_indexes(engine: Engine) -> list[Any]:
    found = [ix for model in _BULK for ix in model.__table__.indexes]  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for ix in found:
            ix.drop(conn)
    return found


def _create_indexes(engine: Engine, indexes: list[Any]) -> None:
    with engine.begin() as conn:
        for ix in indexes:
            ix.create(conn)


def _people_and_lists(w: _Writer, rnd: random.Random, people: int, lists: int,
                      data: Dataset) -> list[list[str]]:
    members: list[list[str]] = [[] for _ in range(lists)]
    for i in range(people):
        pid = f"u{i:08d}"
        data.people.append(pid)
        w.add("person", {"id": pid, "name": f"Person {i}", "note": "", "created": START})
        w.add("identity", {"person_id": pid, "kind": "email", "value": f"{pid}@example.org"})
        for list_no in rnd.sample(range(lists), rnd.choice((1, 1, 2))):
            members[list_no].append(pid)
    for list_no in range(lists):
        w.add("people_list", {"name": f"list{list_no}", "description": "", "created": START})
        for pid in members[list_no]:
            w.add("list_member", {"list_name": f"list{list_no}", "person_id": pid,
                                  "added": START})
    return members


def _snapshots(w: _Writer, members: list[list[str]]) -> dict[Any, str]:
    out: dict[Any, str] = {}
    for key, people in [("world", [])] + list(enumerate(members)):
        entries = sorted((p, f"{p}@example.org", f"list{key}") for p in people)
        payload = {"reach": "world" if key == "world" else "recipients",
                   "lower_bound": False, "members": [list(e) for e in entries],
                   "extra": {"anyone": True} if key == "world" else {}}
        digest = hashlib.sha256(canonical(payload).encode()).hexdigest()
        seen = digest in out.values()
        out[key] = digest
        if seen:
            continue
        w.add("audience_snapshot", {"hash": digest, "reach": payload["reach"],
                                    "lower_bound": False, "payload": payload,
                                    "created": START})
        for pid, ident, via in entries:
            w.add("snapshot_member", {"snapshot_hash": digest, "member": pid,
                                      "person_id": pid, "identity": ident, "via_list": via})
    return out


def sample(items: list[str], n: int, rnd: random.Random) -> Iterator[str]:
    for _ in range(n):
        yield rnd.choice(items)
