"""The hot paths do only what they need: authenticating an API token is a read (its
``last_used`` is written at most once a minute), a post is one write transaction, and a
delivery takes the write lock twice (claim with the re-check, then the outcome)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from hub.services.tokens import LAST_USED_EVERY, authenticate, create_token, list_tokens
from tests.conftest import Clock

pytestmark = pytest.mark.integration


class Statements:
    """Every statement the engine sends, as the database sees it (no patching: an event)."""

    def __init__(self, engine) -> None:
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, *args) -> None:
        self.seen.append(" ".join(statement.split()))

    def take(self) -> list[str]:
        out, self.seen = self.seen, []
        return out


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")
            or s.upper() == "BEGIN IMMEDIATE"]


def test_a_token_is_authenticated_by_a_read_and_last_used_is_kept_to_the_minute(
        database_url, make_hub):
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    _, secret = create_token(hub, "phone", ["post"])
    statements = Statements(hub.db.engine)

    authenticate(hub, f"Bearer {secret}")
    assert any(s.startswith("UPDATE api_token SET last_used") for s in statements.take())
    [row] = list_tokens(hub)
    assert row.last_used == clock.value

    first = row.last_used
    clock.advance(LAST_USED_EVERY.total_seconds() - 1)
    statements.take()
    for _ in range(3):
        authenticate(hub, f"Bearer {secret}")
    assert _writes(statements.take()) == []
    [row] = list_tokens(hub)
    assert row.last_used == first

    clock.advance(1)
    authenticate(hub, f"Bearer {secret}")
    assert any(s.startswith("UPDATE api_token SET last_used") for s in statements.take())
    [row] = list_tokens(hub)
    assert row.last_used == clock.value


class Transactions:
    def __init__(self, engine) -> None:
        self.begun = self.committed = 0
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)

    def _begin(self, conn) -> None:
        self.begun += 1

    def _commit(self, conn) -> None:
        self.committed += 1

    def take(self) -> tuple[int, int]:
        out = (self.begun, self.committed)
        self.begun = self.committed = 0
        return out


def test_a_post_is_one_write_and_its_delivery_two(database_url, make_hub, policy_dir):
    """Submitting: one read (media, people) and one write; publishing: the claim with the
    policy re-check in one write, the outcome in another."""
    import asyncio

    from hub.services.delivery import deliver, due_ids
    from hub.services.people import NewPerson, add_person
    from hub.services.posts import Author, PostInput, submit_post

    (policy_dir / "hub.yaml").write_text(
        "version: 1\naccounts: [feed:site]\ntargets:\n  f: {account: feed:site, list: l}\n"
        "audiences:\n  l: {reach: recipients, targets: [f]}\n")
    hub = make_hub(database_url)
    add_person(hub, NewPerson("Ana", [], ["l"]))
    submit_post(hub, PostInput("warm", ["l"]), Author())     # the people snapshot is read
    for delivery_id in due_ids(hub):
        asyncio.run(deliver(hub, delivery_id, worker="w"))
    counted = Transactions(hub.db.engine)

    view = submit_post(hub, PostInput("counted", ["l"]), Author())
    assert counted.take() == (2, 1)
    [delivery] = view.deliveries
    assert asyncio.run(deliver(hub, delivery.id, worker="w")).status == "published"
    assert counted.take() == (2, 2)
