"""The one draft path: what a person typed becomes the same clean post whether it came from
the API, the compose form or the CLI (``hub.services.drafts``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.errors import InvalidInput
from hub.services.drafts import (
    MAX_IMAGES,
    PostInput,
    check_image_count,
    clean,
    clean_text,
    split_list,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("values", "spaces", "expected"), [
    (["friends"], False, ["friends"]),
    (["friends,public", " clients "], False, ["friends", "public", "clients"]),
    (["a,,b", ""], False, ["a", "b"]),
    (["#work travel,Photo"], True, ["#work", "travel", "Photo"]),
    (["work travel"], False, ["work travel"]),
])
def test_lists_split_on_commas_and_tags_also_on_spaces(values, spaces, expected):
    assert split_list(values, spaces=spaces) == expected


@pytest.mark.parametrize(("data", "field", "expected"), [
    (PostInput("hi\r\nthere", ["friends"]), "text", "hi\nthere"),
    (PostInput("old\rmac\ttab", ["friends"]), "text", "old\nmac\ttab"),
    (PostInput("x", ["friends, public", "friends"]), "audiences", ("friends", "public")),
    (PostInput("x", ["a"], tags=["#Work,travel", "work"]), "tags", ("work", "travel")),
    (PostInput("x", ["a"], content_warning="  "), "content_warning", None),
    (PostInput("x", ["a"], language=" pt-BR "), "language", "pt-BR"),
])
def test_clean_normalises_each_field(data, field, expected):
    assert getattr(clean(data, NOW), field) == expected


@pytest.mark.parametrize(("data", "field", "message"), [
    (PostInput("  \n ", ["a"]), "text", "text is empty"),
    (PostInput("x" * 50_001, ["a"]), "text", "at most 50000"),
    (PostInput("x", [" ", ","]), "audiences", "at least one audience"),
    (PostInput("x", ["a"], tags=[f"t{n}" for n in range(31)]), "tags", "at most 30 tags"),
    (PostInput("x", ["a"], tags=["a.b"]), "tags", "letters, digits"),
    (PostInput("x", ["a"], tags=["bad tag"]), "tags", "letters, digits"),
    (PostInput("x", ["a"], content_warning="w" * 501), "content_warning", "500"),
    (PostInput("x", ["a"], language="english!"), "language", "language tag"),
    (PostInput("x", ["a"], schedule_at=datetime(2026, 12, 2)), "schedule_at", "time zone"),
    (PostInput("x", ["a"], schedule_at=NOW - timedelta(hours=1)), "schedule_at", "past"),
    (PostInput("feed\u000bbreaker", ["a"]), "text", r"U\+000B at character 5"),
    (PostInput("\ud800", ["a"]), "text", "lone surrogate"),
    (PostInput("x", ["a"], content_warning="one\ntwo"), "content_warning", "line break"),
])
def test_clean_refuses_bad_input_naming_the_field(data, field, message):
    with pytest.raises(InvalidInput, match=message) as err:
        clean(data, NOW)
    assert err.value.field == field


def test_a_preview_may_clean_everything_but_an_empty_text():
    assert clean(PostInput("", ["a"]), NOW, check_text=False).text == ""
    with pytest.raises(InvalidInput):
        clean_text("")


def test_the_image_cap_is_written_once():
    check_image_count(MAX_IMAGES)
    with pytest.raises(InvalidInput, match=f"at most {MAX_IMAGES} images") as err:
        check_image_count(MAX_IMAGES + 1)
    assert err.value.field == "media"
