"""Bluesky group chat adapter without a network: the message (limits, facets, content warning),
the group's members from a list, policy options, and XRPC error translation."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError

from adapters.bluesky_chat import render
from adapters.bluesky_chat.client import XrpcError, translate
from adapters.bluesky_chat.spec import BlueskyChatOptions, BlueskyChatSpec
from hub.domain.model import (
    Identity,
    IdentityKind,
    Media,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
    Reach,
    Target,
)
from hub.errors import ContentRejected, TransientDeliveryError
from tests.bluesky_chat_double import lexicon

TARGET = Target("fam", "bluesky-chat:me", Reach.RECIPIENTS, {"list": "family"})


def _post(text: str, **kw: object) -> Post:
    return Post(PostId("p"), text, ("family",), datetime(2026, 11, 23, tzinfo=UTC),
                **kw)  # type: ignore[arg-type]


def test_the_message_has_facets_at_byte_offsets_and_fits_the_lexicon() -> None:
    msg = render.message(_post("Olá https://example.org", tags=("café",),
                               content_warning="food"), TARGET)
    assert msg["text"] == "Content warning: food\n\nOlá https://example.org\n\n#café"
    text = str(msg["text"]).encode()
    spans = {f["features"][0]["$type"]: text[f["index"]["byteStart"]:f["index"]["byteEnd"]]
             for f in msg["facets"]}  # type: ignore[index,union-attr]
    assert spans == {"app.bsky.richtext.facet#link": b"https://example.org",
                     "app.bsky.richtext.facet#tag": "#café".encode()}
    assert lexicon.problems("chat.bsky.convo.sendMessage", "input",
                            {"convoId": "c", "message": msg}) == []


@pytest.mark.parametrize(("post", "why"), [
    (_post("é" * 1001), "holds 1000 graphemes"),
    (_post("👩‍👩‍👧" * 900), "holds 1000 graphemes"),     # 900 graphemes but > 10,000 bytes
    (_post("x", media=(Media("a" * 64, "image/png", "alt", 1),)), "cannot carry images"),
])
def test_what_one_message_cannot_carry_is_rejected(post: Post, why: str) -> None:
    with pytest.raises(ContentRejected) as err:
        render.message(post, TARGET)
    assert why in err.value.message


def test_exactly_1000_graphemes_fit() -> None:
    assert render.message(_post("👍🏽" * 1000), TARGET)["text"] == "👍🏽" * 1000


def _people(n: int) -> PeopleSnapshot:
    people = {PersonId(str(i)): Person(PersonId(str(i)), f"P{i:03d}", (
        Identity(IdentityKind.BLUESKY, f"p{i}.test"), Identity(IdentityKind.BLUESKY,
                                                                f"did:plc:p{i}"))
        if i else ()) for i in range(n)}
    return PeopleSnapshot(people, {"family": frozenset(people)})


def test_members_prefer_a_did_and_people_without_one_are_named() -> None:
    found, notes = render.members(BlueskyChatOptions(list="family"), _people(3), TARGET)
    assert [r.address for r in found] == ["did:plc:p1", "did:plc:p2"]
    assert notes == ("P000 has no Bluesky identity: not in the group",)


def test_a_list_larger_than_the_group_limit_is_refused() -> None:
    with pytest.raises(ContentRejected) as err:
        render.members(BlueskyChatOptions(list="family"), _people(101), TARGET)
    assert "has 100 people on Bluesky; a group holds 100 with you" in err.value.message


@pytest.mark.parametrize(("options", "error"), [
    ({"list": "family"}, None),
    ({"list": "family", "name": "Family", "member_limit": 50}, None),
    ({}, "Field required"),
    ({"list": "family", "name": "x" * 51}, "at most 50"),
    ({"list": "family", "visibility": "public"}, "Extra inputs"),
])
def test_policy_options(options: dict[str, object], error: str | None) -> None:
    if error is None:
        assert BlueskyChatSpec.reach(BlueskyChatOptions.model_validate(options)) \
            is Reach.RECIPIENTS
        return
    with pytest.raises(ValidationError) as err:
        BlueskyChatOptions.model_validate(options)
    assert error in str(err.value)


@pytest.mark.parametrize(("status", "body", "error"), [
    (200, {}, None),
    (429, {"error": "RateLimitExceeded"}, TransientDeliveryError),
    (502, {}, TransientDeliveryError),
    (400, {"error": "NotFollowedBySender", "message": "follow first"}, XrpcError),
    (400, {"error": "ConvoLocked"}, XrpcError),
])
def test_xrpc_answers_are_translated(status: int, body: dict[str, str],
                                     error: type[Exception] | None) -> None:
    answer = httpx.Response(status, json=body)
    if error is None:
        translate(answer, action="send")
        return
    with pytest.raises(error) as err:
        translate(answer, action="send")
    if body.get("error"):
        assert body["error"] in str(err.value)


def test_an_edit_goes_out_as_a_correction_message() -> None:
    from adapters.bluesky_chat.client import Xrpc
    from adapters.bluesky_chat.publish import BlueskyChatPublisher
    from hub.ports import EditWay, Receipt

    assert BlueskyChatSpec.edit_way(BlueskyChatOptions(list="family")) is EditWay.CORRECT
    publisher = BlueskyChatPublisher("bluesky-chat:me", Xrpc(
        httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500))),
        identifier="me.test", password="pw"))
    draft = publisher.prepare(_post("now at 9 https://example.org"), TARGET, _people(2))
    fixed = publisher.correction(draft, original=Receipt("c/m"))
    text = fixed.payload["message"]["text"]  # type: ignore[index]
    assert text == "Correction of my earlier message:\n\nnow at 9 https://example.org"
    assert fixed.recipients == draft.recipients
    assert lexicon.problems("chat.bsky.convo.sendMessage", "input",
                            {"convoId": "c", "message": fixed.payload["message"]}) == []
