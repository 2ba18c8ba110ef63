"""Reading Micropub requests (form, multipart, JSON) into one shape, without a server."""

from __future__ import annotations

import pytest

from hub.errors import InvalidInput
from web.routes._micropub_entry import Photo, from_form, from_json, html_to_text


def test_form_fields_with_brackets_repeat_and_commas_split() -> None:
    req = from_form([("h", "entry"), ("content", "hi"), ("category[]", "a"),
                     ("category[]", "#b, c"), ("mp-syndicate-to[]", "friends"),
                     ("access_token", "hub_secret")])
    assert (req.type, req.content, req.categories) == ("entry", "hi", ("a", "b", "c"))
    assert req.syndicate_to == ("friends",) and req.access_token == "hub_secret"
    assert "hub_secret" not in repr(req)


def test_form_photos_pair_with_their_alt_texts_and_files_stay_bytes() -> None:
    req = from_form([("photo[]", "https://hub.example/micropub/media/x"), ("photo[]", b"PNG"),
                     ("mp-photo-alt[]", "first"), ("mp-photo-alt[]", "second")])
    assert req.photos == (Photo(url="https://hub.example/micropub/media/x", alt="first"),
                          Photo(data=b"PNG", alt="second"))


def test_json_content_value_wins_over_html_and_html_becomes_text() -> None:
    req = from_json(b'{"type": ["h-entry"], "properties": {"content": '
                    b'[{"value": "plain", "html": "<b>rich</b>"}]}}')
    assert req.content == "plain"
    assert html_to_text("<p>One <b>bold</b></p><p>Two<br>lines &amp; more</p>") == \
        "One bold\n\nTwo\nlines & more"


def test_json_actions_and_summary_as_content_warning() -> None:
    assert from_json(b'{"action": "delete", "url": "https://h/posts/1"}').action == "delete"
    req = from_json(b'{"type": ["h-entry"], "properties": {"content": ["x"], '
                    b'"content-warning": ["spoilers"]}}')
    assert req.summary == "spoilers"


@pytest.mark.parametrize(("body", "why"), [
    (b"{nope", "not valid JSON"),
    (b"[1]", "must be a JSON object"),
    (b'{"type": "h-entry", "properties": {}}', "needs 'type'"),
    (b'{"type": ["h-entry"], "properties": {"content": "x"}}', "must be an array"),
    (b'{"type": ["h-entry"], "properties": {"photo": [3]}}', "a photo must be"),
    (b'{"type": ["h-entry"], "properties": {"content": [{"x": 1}]}}', "content must be"),
    (b'{"action": "delete"}', "needs 'action' and 'url'"),
])
def test_malformed_json_is_refused_readably(body: bytes, why: str) -> None:
    with pytest.raises(InvalidInput) as err:
        from_json(body)
    assert why in err.value.message


def test_json_updates_are_read_as_replace_add_and_delete() -> None:
    req = from_json(b'{"action": "update", "url": "u", "replace": {"content": ["x"]}, '
                    b'"add": {"category": ["a"]}, "delete": {"category": ["b"]}}')
    assert (req.replace, req.add, req.remove, req.remove_all) == (
        {"content": ["x"]}, {"category": ["a"]}, {"category": ["b"]}, ())
    assert from_json(b'{"action": "update", "url": "u", "delete": ["category"]}'
                     ).remove_all == ("category",)
    with pytest.raises(InvalidInput) as err:
        from_json(b'{"action": "update", "url": "u", "replace": {"content": "x"}}')
    assert "array of values" in err.value.message
