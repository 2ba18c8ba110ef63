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


def test_an_embedded_hub_claims_a_posts_deliveries_in_one_transaction(
        database_url, make_runtime, policy_dir):
    """The commit of a post wakes its deliveries together; the in-process dispatcher claims
    and re-checks all of them in one write (one turn at the write lock), then records each
    outcome: a post to three targets is 1 + 1 + 3 commits (before: 1 + 3 + 3)."""
    import asyncio

    from hub.bootstrap import Mode
    from hub.services.people import NewPerson, add_person
    from hub.services.posts import Author, PostInput, get_post, submit_post
    from tests.conftest import async_wait_until

    (policy_dir / "hub.yaml").write_text(
        "version: 1\naccounts: [feed:site]\ntargets:\n"
        "  a: {account: feed:site, list: l}\n  b: {account: feed:site, list: l}\n"
        "  c: {account: feed:site, list: l}\n"
        "audiences:\n  l: {reach: recipients, targets: [a, b, c]}\n")
    # the audit sequencer's own transactions (every 0.2 s by default) are not counted here
    runtime = make_runtime(database_url, real_clock=True, mode=Mode.EMBEDDED,
                           sweep_seconds=3600, audit_sequence_seconds=60)
    hub = runtime.hub
    add_person(hub, NewPerson("Ana", [], ["l"]))

    async def run() -> tuple[int, int]:
        await runtime.start()
        try:
            async def post(text: str) -> str:
                view = await asyncio.to_thread(submit_post, hub, PostInput(text, ["l"]),
                                               Author())
                await async_wait_until(
                    lambda: {d.status for d in get_post(hub, view.post.id).deliveries}
                    == {"published"}, what=f"{text}: every delivery published")
                return view.post.id

            await post("warm")
            counted = Transactions(hub.db.engine)
            await post("counted")
            return counted.take()
        finally:
            await runtime.stop()

    begun, committed = asyncio.run(run())
    assert committed == 5


def test_an_embedded_hub_renders_a_draft_once_unless_the_book_changed(
        database_url, make_runtime, policy_dir, fakes):
    """Render once: in embedded mode the draft the submit's check rendered is the one the
    delivery publishes; a post whose address book changed in between is rendered again (and
    reaches the people of the book in force)."""
    import asyncio

    from adapters.fake import FakePublisher
    from hub.bootstrap import Mode
    from hub.services.delivery import deliver
    from hub.services.people import NewPerson, add_person
    from hub.services.posts import Author, PostInput, submit_post

    class Counting(FakePublisher):
        def __init__(self, account: str) -> None:
            super().__init__(account)
            self.prepared: list[str] = []

        def prepare(self, post, target, people):
            self.prepared.append(post.text)
            return super().prepare(post, target, people)

    counting = fakes["mastodon:main"] = Counting("mastodon:main")
    (policy_dir / "hub.yaml").write_text(
        "version: 1\naccounts: [mastodon:main]\ntargets:\n"
        "  dm: {account: mastodon:main, visibility: direct, list: l}\n"
        "audiences:\n  l: {reach: recipients, targets: [dm]}\n")
    # embedded, its workers not started: the test runs each delivery itself
    hub = make_runtime(database_url, mode=Mode.EMBEDDED).hub
    add_person(hub, NewPerson("Ana", [("mastodon", "@ana@example.social")], ["l"]))

    def post_and_deliver(text: str, between=lambda: None) -> list[str]:
        [delivery] = submit_post(hub, PostInput(text, ["l"]), Author()).deliveries
        between()
        assert asyncio.run(deliver(hub, delivery.id, worker="w")).status == "published"
        [receipt] = [k for k in counting.published if k not in seen]
        seen.add(receipt)
        return [r.address for r in counting.published[receipt].recipients]

    seen: set[str] = set()
    assert post_and_deliver("once") == ["@ana@example.social"]
    assert counting.prepared == ["once"]
    assert post_and_deliver("again", lambda: add_person(
        hub, NewPerson("Bo", [("mastodon", "@bo@example.social")], ["l"]))) == [
        "@ana@example.social", "@bo@example.social"]
    assert counting.prepared == ["once", "again", "again"]


def test_a_batch_claim_re_checks_each_delivery_under_the_policy_in_force(
        database_url, make_runtime, policy_dir):
    """The deliveries claimed together are each judged again: a rule added after the post
    was accepted denies its target at publish time, the others publish."""
    import asyncio

    from hub.bootstrap import Mode
    from hub.services.people import NewPerson, add_person
    from hub.services.policy import reload_policy
    from hub.services.posts import Author, PostInput, get_post, submit_post
    from tests.conftest import async_wait_until

    policy = ("version: 1\naccounts: [feed:site]\ntargets:\n"
              "  a: {account: feed:site, list: l}\n  b: {account: feed:site, list: l}\n"
              "  c: {account: feed:site, list: l}\n"
              "audiences:\n  l: {reach: recipients, targets: [a, b, c]}\n")
    (policy_dir / "hub.yaml").write_text(policy)
    runtime = make_runtime(database_url, real_clock=True, mode=Mode.EMBEDDED,
                           sweep_seconds=3600)
    hub = runtime.hub
    add_person(hub, NewPerson("Ana", [], ["l"]))
    view = submit_post(hub, PostInput("before the rule", ["l"]), Author())  # nobody woken yet
    (policy_dir / "hub.yaml").write_text(
        policy + "rules:\n  - id: not-b\n    deny: {targets: [b]}\n")
    reload_policy(hub, actor="test")

    def states() -> dict[str, str]:
        return {d.target: d.status for d in get_post(hub, view.post.id).deliveries}

    async def run() -> None:
        await runtime.start()     # the sweeper hands all three to the dispatcher at once
        try:
            await async_wait_until(lambda: set(states().values()) <= {"published", "denied"},
                                   what="every delivery final")
        finally:
            await runtime.stop()

    asyncio.run(run())
    assert states() == {"a": "published", "b": "denied", "c": "published"}
