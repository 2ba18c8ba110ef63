"""The compose preview says where the policy found a tag or a mention (a real hub on SQLite)."""

from __future__ import annotations

import pytest

from hub.services.posts import PostInput
from hub.services.preview import preview_post

pytestmark = pytest.mark.integration


def test_preview_names_the_tag_typed_in_the_text_and_what_it_changes(make_hub, sqlite_url):
    hub = make_hub(sqlite_url)
    preview = preview_post(hub, PostInput(text="Sunday lunch at mum's #Private",
                                          audiences=["public"]))
    bsky = next(t for t in preview.targets if t.target == "bsky")
    assert bsky.outcome == "deny" and bsky.rule_ids == ("private-stays-home",)
    assert bsky.reasons[0].endswith("Found #Private in the text.")
    assert ("The tag #Private in the text stops it going to bsky (it would otherwise be sent); "
            "rule private-stays-home.") in preview.warnings


def test_preview_of_a_tag_in_the_content_warning(make_hub, sqlite_url):
    hub = make_hub(sqlite_url)
    preview = preview_post(hub, PostInput(text="boarding now", content_warning="#Work trip",
                                          audiences=["public"]))
    bsky = next(t for t in preview.targets if t.target == "bsky")
    assert bsky.outcome == "hold"
    assert bsky.reasons[0].endswith("Found #Work in the content warning.")
    assert any(w.startswith("The tag #Work in the content warning holds for approval bsky")
               for w in preview.warnings)
