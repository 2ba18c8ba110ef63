"""The compose form's per-part counters come from the publishers' own counting (Bluesky: the
PDS's graphemes; Mastodon: the instance's status length), and a thread the owner wrote is
rendered as those parts on both networks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.bluesky.entry import BlueskyPublisher  # the package loads through its entry
from adapters.bluesky.render import render as render_bluesky
from adapters.mastodon.publish import MastodonPublisher
from adapters.mastodon.render import render as render_mastodon
from hub.domain.model import PeopleSnapshot, Post, PostId, Reach, Target, join_thread
from hub.errors import ContentRejected
from hub.ports import Measurer
from tests.unit.test_mastodon_render import ACCOUNT

FAMILY = "👩\u200d👩\u200d👧"
BSKY = Target("bsky", "bluesky:me", Reach.WORLD)
MASTO = Target("masto", "mastodon:main", Reach.WORLD, {"visibility": "public"})


def thread(*parts: str, cw: str | None = None) -> Post:
    return Post(id=PostId("p"), text=join_thread(parts), audiences=("public",),
                created=datetime(2026, 12, 1, tzinfo=UTC), thread=parts, content_warning=cw)


def test_bluesky_counts_graphemes_as_the_pds_does() -> None:
    publisher = BlueskyPublisher(account="bluesky:me", repo=None)  # type: ignore[arg-type]
    assert isinstance(publisher, Measurer)
    size = publisher.measure(f"Part two {FAMILY}.")
    assert (size.used, size.limit, size.unit, size.fits) == (11, 300, "graphemes", True)
    assert publisher.measure("x" * 301).fits is False
    assert publisher.measure("é" * 299 + FAMILY).used == 300        # one cluster each
    assert publisher.measure("hi", content_warning="spoilers").used == len("CW: spoilers\n\nhi")
    assert publisher.measure("hi", content_warning="spoilers", first=False).used == 2


def test_mastodon_counts_as_the_instance_does() -> None:
    publisher = MastodonPublisher(ACCOUNT, None)  # type: ignore[arg-type]
    assert isinstance(publisher, Measurer)
    size = publisher.measure(f"see https://example.org/{'x' * 80} {FAMILY}")
    assert (size.used, size.unit) == (4 + 23 + 2, "characters")
    assert publisher.measure("x" * 10, content_warning="cw").used == 12


def test_a_written_thread_is_posted_as_its_parts_on_both_networks() -> None:
    post = thread("part one", f"part two {FAMILY}", cw="food")
    bsky = render_bluesky(post, BSKY, PeopleSnapshot())
    assert bsky.parts == ("CW: food\n\npart one", f"part two {FAMILY}")
    masto = render_mastodon(post, MASTO, PeopleSnapshot(), ACCOUNT)
    assert masto.parts == ("part one", f"part two {FAMILY}")
    assert masto.payload["spoiler_text"] == "food"


def test_a_part_over_the_limit_is_refused_naming_it_unless_splitting_is_allowed() -> None:
    post = thread("short", "y" * 320)
    with pytest.raises(ContentRejected, match="thread part 2 is 320 graphemes"):
        render_bluesky(post, BSKY, PeopleSnapshot())
    split = Target("bsky", "bluesky:me", Reach.WORLD, {"split": True})
    assert len(render_bluesky(post, split, PeopleSnapshot()).parts) == 3
    with pytest.raises(ContentRejected, match="thread part 2: masto: 600 characters"):
        render_mastodon(thread("short", "y" * 600), MASTO, PeopleSnapshot(), ACCOUNT)


def test_a_direct_mastodon_target_refuses_a_thread() -> None:
    direct = Target("dm", "mastodon:main", Reach.RECIPIENTS,
                    {"visibility": "direct", "list": "friends"})
    from tests.unit.test_mastodon_render import people

    with pytest.raises(ContentRejected, match="a thread cannot go as direct posts"):
        render_mastodon(thread("a", "b"), direct, people(("Ana", "@ana@home.example")), ACCOUNT)
