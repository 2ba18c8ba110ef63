"""Submit writes its rows with Core ``INSERT`` statements, every column given: a column added
to the post, decision or delivery table must be added to those rows too (a Core insert applies
no Python-side defaults), or this fails."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.domain.model import Decision, Outcome, Post, PostId, Reach, Target
from hub.services.posts import DECISION, DELIVERY, POST, _rows
from hub.store.repos import post_values


def test_the_rows_of_a_submit_name_every_column_of_their_tables() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    post = Post(id=PostId("p1"), text="hello", audiences=("a",), created=now)
    target = Target("t", "feed:site", Reach.RECIPIENTS)
    decisions, deliveries = _rows(post, [Decision(target, Outcome.ALLOW, (), (), ("a",))], "d" * 64,
                                  {}, now)
    assert set(post_values(post, policy_digest="d" * 64)) == set(POST.columns.keys())
    assert set(decisions[0]) == set(DECISION.columns.keys()) - {"id"}   # autoincrement
    assert set(deliveries[0]) == set(DELIVERY.columns.keys())
