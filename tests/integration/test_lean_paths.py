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
