"""Property: whatever is posted, no delivery row ever exists for a target the policy denies.

The oracle below restates the test policy's meaning by hand (audience membership, declared
reach ceilings, the deny rules), independently of the engine."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from hub.services.posts import Author, PostInput, submit_post
from hub.store.tables import DeliveryRow

pytestmark = pytest.mark.integration

AUDIENCES = {  # from tests/conftest.py TEST_POLICY: name -> (declared reach rank, targets)
    "public": (4, {"bsky", "masto-public"}),
    "professional": (2, {"masto-followers"}),
    "friends": (0, {"friends-mail", "friends-feed"}),
    "clients": (0, {"clients-mail"}),
    "careless": (0, {"friends-feed", "bsky"}),
}
TARGET_RANK = {"bsky": 4, "masto-public": 4, "masto-followers": 2, "friends-mail": 0,
               "friends-feed": 0, "clients-mail": 0}


def allowed_by_oracle(audiences: list[str], tags: set[str]) -> set[str]:
    ceiling = max(AUDIENCES[a][0] for a in audiences)
    targets = set().union(*(AUDIENCES[a][1] for a in audiences))
    targets = {t for t in targets if TARGET_RANK[t] <= ceiling}             # never widen
    if "private" in tags:                                                  # private-stays-home
        targets = {t for t in targets if TARGET_RANK[t] == 0}
    return targets


posts = st.fixed_dictionaries({
    "audiences": st.lists(st.sampled_from(sorted(AUDIENCES)), min_size=1, max_size=3,
                          unique=True),
    "tags": st.lists(st.sampled_from(["private", "work", "food", "x"]), max_size=3),
    "text": st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                    min_size=1, max_size=200).filter(lambda t: t.strip()),
})


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(post=posts)
def test_no_delivery_for_a_denied_target(make_hub, sqlite_url, post, request):
    hub = request.node.__dict__.setdefault("hub", make_hub(sqlite_url))
    view = submit_post(hub, PostInput(post["text"], post["audiences"], tags=post["tags"]),
                       Author())
    with hub.db.read() as s:
        rows = s.exec(select(DeliveryRow).where(DeliveryRow.post_id == view.post.id)).all()
    expected = allowed_by_oracle(post["audiences"], set(post["tags"]))
    assert {r.target for r in rows} == expected
