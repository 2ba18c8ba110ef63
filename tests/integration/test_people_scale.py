"""An address book of 10,000 people costs a post and a delivery what a handful costs: the
book is read again only when it changed (a version the database bumps in the writer's
transaction), and a change — a removal above all — is seen by the very next read."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, insert
from sqlmodel import select

from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person, change_lists
from hub.services.posts import Author, PostInput, get_post, submit_post
from hub.store.tables import DeliveryRow, IdentityRow, ListMemberRow, ListRow, PersonRow

pytestmark = pytest.mark.integration

POLICY = """\
version: 1
accounts: [feed:site]
targets:
  team-feed: {account: feed:site, list: team}
audiences:
  team: {reach: recipients, targets: [team-feed]}
"""
BOOK = re.compile(r"\b(FROM|JOIN)\s+\"?(person|identity|people_list|list_member)\b", re.I)


def _fill(hub, n: int, lists: int = 20) -> None:
    """``n`` people in ``lists`` other lists, written straight into the tables (the service
    would audit each one, which takes minutes for 10,000)."""
    now = datetime.now(UTC)
    people = [{"id": f"pbulk{i:06d}", "name": f"Person {i}", "note": "", "created": now}
              for i in range(n)]
    with hub.db.transaction() as s:
        s.execute(insert(PersonRow.__table__), people)
        s.execute(insert(IdentityRow.__table__), [
            {"person_id": p["id"], "kind": "email", "value": f"{p['id']}@example.org"}
            for p in people])
        s.execute(insert(ListRow.__table__), [{"name": f"other{k}", "description": "",
                                               "created": now} for k in range(lists)])
        s.execute(insert(ListMemberRow.__table__), [
            {"list_name": f"other{i % lists}", "person_id": p["id"], "added": now}
            for i, p in enumerate(people)])


class Statements:
    def __init__(self, engine) -> None:
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, *args) -> None:
        self.seen.append(statement)

    def take(self) -> list[str]:
        out, self.seen = self.seen, []
        return out


def _post_and_deliver(hub, text: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    view = submit_post(hub, PostInput(text, ["team"]), Author())
    for delivery_id in due_ids(hub):
        assert asyncio.run(deliver(hub, delivery_id, worker="w")).status == "published"
    return view.post.id, time.perf_counter() - t0


def _hub(make_hub, database_url, policy_dir):
    (policy_dir / "hub.yaml").write_text(POLICY)
    hub = make_hub(database_url)
    for name in ("Ana", "Bo", "Cy"):
        add_person(hub, NewPerson(name, [("email", f"{name.lower()}@example.org")], ["team"]))
    return hub


def _cost(hub, rounds: int = 5) -> tuple[list[str], float]:
    statements = Statements(hub.db.engine)
    _post_and_deliver(hub, "warm the snapshot")
    statements.take()
    times = []
    for n in range(rounds):
        times.append(_post_and_deliver(hub, f"post {n}")[1])
        seen = statements.take()
    return seen, statistics.median(times)


def test_a_post_and_its_delivery_cost_the_same_with_10000_people(
        database_url, make_hub, policy_dir):
    hub = _hub(make_hub, database_url, policy_dir)
    small_statements, small_time = _cost(hub)
    _fill(hub, 10_000)
    big_statements, big_time = _cost(hub)
    assert len(big_statements) == len(small_statements)
    assert [s for s in big_statements if BOOK.search(s)] == []
    # the same statements, and no work that grows with the book (generous: a loaded machine)
    assert big_time < 3 * small_time + 0.05, (small_time, big_time)


def _who_could_see(hub, post_id: str) -> set[str]:
    [delivery] = get_post(hub, post_id).deliveries
    with hub.db.read() as s:
        receipt = s.get(DeliveryRow, delivery.id).receipt
        return {m.person_id for m in hub.audit.snapshot_members(s, receipt["snapshot"])}


def test_a_removal_is_seen_by_the_next_post(database_url, make_hub, policy_dir):
    hub = _hub(make_hub, database_url, policy_dir)
    with hub.db.read() as s:
        ids = {row.name: row.id for row in s.exec(select(PersonRow))}
    before, _ = _post_and_deliver(hub, "everyone")
    assert _who_could_see(hub, before) == {ids["Ana"], ids["Bo"], ids["Cy"]}
    change_lists(hub, "team", remove=["Bo"])
    after, _ = _post_and_deliver(hub, "without Bo")
    assert _who_could_see(hub, after) == {ids["Ana"], ids["Cy"]}
    add_person(hub, NewPerson("Di", [], ["team"]))
    later, _ = _post_and_deliver(hub, "with Di")
    assert _who_could_see(hub, later) == {ids["Ana"], ids["Cy"], _id(hub, "Di")}


def _id(hub, name: str) -> str:
    with hub.db.read() as s:
        return s.exec(select(PersonRow.id).where(PersonRow.name == name)).one()
