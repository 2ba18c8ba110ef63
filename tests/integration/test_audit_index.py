"""The who-could-see index on SQLite and PostgreSQL: written when the delivery's outcome event
is sequenced, frozen at send time, paged newest first with filters, back-filled by the
migration."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from sqlalchemy import text
from sqlmodel import select

from hub.audit.sequencer import sequence_pending
from hub.errors import InvalidInput
from hub.services.audit_post import post_audit
from hub.services.audit_queries import Filters, person_audit
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person, change_lists
from hub.services.posts import Author, PostInput, submit_post
from hub.store.migrate import alembic_config
from hub.store.tables import VisibilityRow
from tests.conftest import Clock

pytestmark = pytest.mark.integration


async def _run_all(hub) -> None:
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w1")


def _index(hub) -> list[tuple]:
    sequence_pending(hub.db)   # the sequencer writes the rows with the events' place in the log
    with hub.db.read() as s:
        return [(r.event_seq, r.post_id, r.delivery_id, r.member, r.person_id, r.identity,
                 r.via_list, r.reach, r.account, r.public_rank, r.created)
                for r in s.exec(select(VisibilityRow).order_by(VisibilityRow.event_seq,  # type: ignore[arg-type]
                                                               VisibilityRow.member))]


async def _posts(hub, clock: Clock, n: int, audience: str) -> list[str]:
    ids = []
    for i in range(n):
        ids.append(submit_post(hub, PostInput(f"{audience} {i}", [audience]), Author()).post.id)
        await _run_all(hub)
        clock.advance(60)
    return ids


async def test_a_delivery_writes_its_index_rows_and_they_stay_as_sent(database_url, make_hub):
    """Removing Ana from the list later changes neither the answer nor the rows."""
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    ana = add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    view = submit_post(hub, PostInput("for friends", ["friends"]), Author())
    await _run_all(hub)
    rows = _index(hub)
    assert {(r[3], r[6]) for r in rows} == {(ana.id, "friends")}
    feed = next(d for d in view.deliveries if d.target == "friends-feed")
    assert [r[2] for r in rows] == [feed.id]   # the mail account is not connected: it failed
    change_lists(hub, "friends", remove=["Ana"])
    assert _index(hub) == rows
    seen = person_audit(hub, "Ana", include_public=False)
    assert seen["count"] == 1 and [p["through"] for p in seen["posts"]] == ["list friends"]
    with hub.db.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("UPDATE audit_visibility SET via_list = 'clients'"))
    with hub.db.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("DELETE FROM audit_visibility"))


async def test_person_pages_run_newest_first_without_gaps_and_filter(database_url, make_hub):
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    add_person(hub, NewPerson("Ana", [], ["friends"]))
    private = await _posts(hub, clock, 7, "friends")        # 7 feed deliveries (mail fails)
    public = await _posts(hub, clock, 5, "public")          # bsky + mastodon: 10 deliveries
    first = person_audit(hub, "Ana", limit=4)
    assert first["count"] == 7 and len(first["posts"]) == 4
    assert first["public"]["count"] == 10 and len(first["public"]["posts"]) == 4
    got, cursor = list(first["posts"]), first["next_cursor"]
    while cursor:
        page = person_audit(hub, "Ana", limit=4, cursor=cursor, include_public=False)
        assert page["public"] is None
        got += page["posts"]
        cursor = page["next_cursor"]
    assert len({p["delivery_id"] for p in got}) == 7
    assert [p["when"] for p in got] == sorted((p["when"] for p in got), reverse=True)
    assert list(dict.fromkeys(p["post_id"] for p in got)) == private[::-1]
    pub = person_audit(hub, "Ana", limit=50)["public"]
    assert list(dict.fromkeys(p["post_id"] for p in pub["posts"])) == public[::-1]

    feed_only = person_audit(hub, "Ana", filters=Filters(account="feed:site"))
    assert feed_only["count"] == 7 and {p["account"] for p in feed_only["posts"]} == {
        "feed:site"}
    assert feed_only["public"]["count"] == 0
    assert person_audit(hub, "Ana", filters=Filters(reach="world"))["public"]["count"] == 10
    start = Clock().value
    early = Filters(since=start, until=start.replace(minute=3))   # the first three posts
    assert person_audit(hub, "Ana", filters=early)["count"] == 3
    with pytest.raises(InvalidInput, match="cursor"):
        person_audit(hub, "Ana", cursor="bm90LWEtY3Vyc29y")
    with pytest.raises(InvalidInput, match="limit"):
        person_audit(hub, "Ana", limit=0)


async def test_post_answer_pages_people_per_delivery(database_url, make_hub):
    hub = make_hub(database_url)
    for i in range(5):
        add_person(hub, NewPerson(f"P{i}", [("email", f"p{i}@example.org")], ["friends"]))
    view = submit_post(hub, PostInput("hi", ["friends"]), Author())
    await _run_all(hub)
    audit = post_audit(hub, view.post.id, limit=2)
    feed = next(c for c in audit["could_see"] if c["target"] == "friends-feed")
    assert feed["people_count"] == 5 and len(feed["people"]) == 2
    names = [m["name"] for m in feed["people"]]
    cursor = feed["next_cursor"]
    while cursor:
        more = post_audit(hub, view.post.id, limit=2, delivery=feed["delivery_id"],
                          cursor=cursor)
        (entry,) = more["could_see"]
        names += [m["name"] for m in entry["people"]]
        cursor = entry["next_cursor"]
    assert sorted(names) == [f"P{i}" for i in range(5)]


async def test_the_migration_back_fills_the_same_rows_the_live_path_writes(database_url,
                                                                         make_hub):
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    await _posts(hub, clock, 2, "friends")
    await _posts(hub, clock, 2, "public")
    live = _index(hub)
    assert len(live) == 6   # 2 feed deliveries to Ana, 4 public ones
    cfg = alembic_config()
    with hub.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005_security")
    with hub.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert _index(hub) == live


async def test_an_audience_allow_list_filters_the_pages_and_the_counts(database_url, make_hub):
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    inside = await _posts(hub, clock, 3, "friends")
    outside = []
    for i in range(2):     # newer, and also to clients: outside a friends-only allow-list
        outside.append(submit_post(hub, PostInput(f"both {i}", ["friends", "clients"]),
                                   Author()).post.id)
        await _run_all(hub)
        clock.advance(60)
    await _posts(hub, clock, 1, "public")
    page = person_audit(hub, "Ana", limit=2, audiences=["friends"])
    assert [p["post_id"] for p in page["posts"]] == inside[:0:-1] and page["count"] == 3
    assert page["public"]["count"] == 0
    rest = person_audit(hub, "Ana", limit=2, audiences=["friends"], cursor=page["next_cursor"])
    assert [p["post_id"] for p in rest["posts"]] == inside[:1] and rest["count"] == 3
    assert person_audit(hub, "Ana", audiences=["friends", "clients"])["count"] == 5
    assert person_audit(hub, "Ana", audiences=[])["count"] == 0
    assert person_audit(hub, "Ana", audiences=["public"])["public"]["count"] == 2
    assert person_audit(hub, "Ana")["count"] == 5 and outside
