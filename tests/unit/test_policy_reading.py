"""The engine judges the post as the networks read it: tags and mentions wherever they are written,
and says where it found them."""

from __future__ import annotations

import pytest

from adapters.mastodon.render import text_mentions
from hub.domain.model import Outcome, Post
from hub.policy import explain_lines, route
from tests.unit.test_policy_engine import (
    CLIENTS,
    NOON,
    PEOPLE,
    deny,
    hold,
    make_policy,
    make_post,
    require,
)
from tests.unit.test_policy_engine import CW as NEEDS_CW

ALLOW, DENY, HOLD = Outcome.ALLOW, Outcome.DENY, Outcome.HOLD
KIDS = deny("kids-stay-home", tags=("kids",))


def outcome(post: Post, *rules: object, target: str = "bsky", **kw: object) -> tuple[Outcome,
                                                                                    str]:
    routing = route(post, make_policy(*rules), PEOPLE, NOON, **kw)  # type: ignore[arg-type]
    d = next(d for d in routing.decisions if d.target.name == target)
    return d.outcome, " ".join(d.reasons)


@pytest.mark.parametrize(("text", "cw", "where"), [
    ("Sunday lunch at mum's #Kids", None, "#Kids in the text"),
    ("boarding now", "#KIDS on board", "#KIDS in the content warning"),
    ("lunch #ｋｉｄｓ", None, "#ｋｉｄｓ in the text"),
    ("lunch ＃kids", None, "＃kids in the text"),
    ("lunch #ki\u200dds", None, "#ki\u200dds in the text"),
    ("lunch #Kids!", None, "#Kids in the text"),
])
def test_a_tag_typed_anywhere_is_denied_and_the_reason_says_where(text: str, cw: str | None,
                                                                  where: str) -> None:
    result, reason = outcome(make_post(("public",), text, content_warning=cw), KIDS)
    assert result is DENY
    assert reason.endswith(f"Found {where}.")


def test_a_tag_in_the_field_keeps_the_plain_reason() -> None:
    result, reason = outcome(make_post(("public",), tags=("Kids",)), KIDS)
    assert (result, reason) == (DENY, "Rule kids-stay-home keeps out posts tagged #kids.")


def test_a_rule_tag_written_any_way_matches() -> None:
    for written in ("#Kids", "KIDS", "ｋｉｄｓ", "ki\u200dds"):
        rule = deny("r", tags=(written,))
        assert outcome(make_post(("public",), "hi #kids"), rule)[0] is DENY


def test_hold_and_require_read_the_text_too() -> None:
    held = outcome(make_post(("public",), "boarding now #holiday"),
                   hold("trips", tags=("holiday",)))
    assert held == (HOLD, "Held for approval: rule trips holds posts tagged #holiday. "
                          "Found #holiday in the text.")
    required = outcome(make_post(("public",), "vote! #Politics"),
                       require("cw", NEEDS_CW, tags=("politics",)))
    assert required[0] is DENY and "Found #Politics in the text." in required[1]


def test_words_that_no_network_tags_do_not_match() -> None:
    for text in ("kids", "mykids", "a#kids", "https://example.com/#kids", "#kidsfun"):
        assert outcome(make_post(("public",), text), KIDS)[0] is ALLOW


def test_mentions_in_the_content_warning_count() -> None:
    result, reason = outcome(make_post(("public",), "hi", content_warning="re @ana.bsky.social"),
                             CLIENTS)
    assert result is HOLD
    assert "Found @ana.bsky.social in the content warning (Ana, in clients)." in reason


def test_a_local_mention_means_the_instance_it_is_published_on() -> None:
    post = make_post(("public",), "thanks @ana")
    domains = {"mastodon:main": "example.social"}
    assert outcome(post, CLIENTS, target="masto", local_domains=domains)[0] is HOLD
    other = {"mastodon:main": "other.social"}
    assert outcome(post, CLIENTS, target="masto", local_domains=other)[0] is ALLOW
    # elsewhere (or on an instance the hub does not know) @ana may be any ana: held
    assert outcome(post, CLIENTS, target="bsky", local_domains=other)[0] is HOLD
    assert outcome(post, CLIENTS, target="masto")[0] is HOLD


def test_explain_shows_where_the_tag_was_found() -> None:
    routing = route(make_post(("public",), "lunch #Kids"), make_policy(KIDS), PEOPLE, NOON)
    line = next(line for line in explain_lines(routing) if " bsky " in line)
    assert line.startswith("DENY") and "[kids-stay-home]" in line
    assert line.endswith("Found #Kids in the text.")


def test_text_patterns_see_through_invisible_characters() -> None:
    import re
    rule = deny("salary", text=(re.compile(r"\bsalary\b", re.I),))
    result, reason = outcome(make_post(("friends",), "my sal\u200bary"), rule, target="mail")
    assert result is DENY and reason.endswith("Found /\\bsalary\\b/ in the text.")


def test_the_mastodon_adapter_addresses_exactly_the_mentions_the_reading_finds() -> None:
    found = text_mentions("@ana hi @Bob@Other.Example see https://x.example/@carol, "
                          "mail ann@example.org", "home.example")
    assert found == ["ana@home.example", "bob@other.example"]
