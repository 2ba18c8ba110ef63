"""Matrix adapter without a network: message rendering (plain + HTML, spoilers, links), size
limit, images with alt text, policy options, invitees, and error translation."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError

from adapters.matrix import render
from adapters.matrix.client import MatrixError, translate
from adapters.matrix.spec import MatrixOptions, MatrixSpec
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
from hub.errors import ContentRejected, CredentialsRejected, TransientDeliveryError


def _post(text: str, **kw: object) -> Post:
    return Post(PostId("p"), text, ("family",), datetime(2026, 11, 23, tzinfo=UTC),
                **kw)  # type: ignore[arg-type]


TARGET = Target("fam", "matrix:home", Reach.ROOM_MEMBERS, {"list": "family"})


def test_plain_and_html_bodies_with_escaped_text_and_linked_urls() -> None:
    content = render.message(_post("a <b> & https://example.org/x?a=1&b=2.\nnext",
                                   tags=("trip",)))
    assert content["msgtype"] == "m.text"
    assert content["body"] == "a <b> & https://example.org/x?a=1&b=2.\nnext\n\n#trip"
    assert content["format"] == "org.matrix.custom.html"
    assert content["formatted_body"] == (
        'a &lt;b&gt; &amp; <a href="https://example.org/x?a=1&amp;b=2">'
        'https://example.org/x?a=1&amp;b=2</a>.<br/>next<br/><br/>#trip')


def test_a_content_warning_becomes_a_spoiler_and_a_plain_prefix() -> None:
    content = render.message(_post("the ending", content_warning='film "spoilers"'))
    assert content["body"] == 'Content warning: film "spoilers"\n\nthe ending'
    assert content["formatted_body"] == (
        '<p><strong>Content warning:</strong> film &quot;spoilers&quot;</p>'
        '<span data-mx-spoiler="film &quot;spoilers&quot;">the ending</span>')


def test_too_much_text_for_one_event_is_rejected() -> None:
    with pytest.raises(ContentRejected) as err:
        render.check(_post("é" * 20_000), TARGET)
    assert "about 60000 bytes" in err.value.message


def test_an_image_carries_its_alt_text_as_body() -> None:
    content = render.image(Media("a" * 64, "image/jpeg", "Two cats", 1234), 0)
    assert content == {"msgtype": "m.image", "body": "Two cats", "filename": "image-1.jpg",
                       "info": {"mimetype": "image/jpeg", "size": 1234}}


def test_invitees_are_the_lists_members_with_a_matrix_identity() -> None:
    ana = Person(PersonId("1"), "Ana", (Identity(IdentityKind.MATRIX, "@ana:example.org"),))
    bo = Person(PersonId("2"), "Bo", (Identity(IdentityKind.EMAIL, "bo@example.org"),))
    people = PeopleSnapshot({ana.id: ana, bo.id: bo}, {"family": frozenset({ana.id, bo.id})})
    found, notes = render.invitees(MatrixOptions(list="family"), people)
    assert [(r.name, r.address, r.via_list) for r in found] == [
        ("Ana", "@ana:example.org", "family")]
    assert notes == ("Bo has no Matrix identity: not invited to the room",)


@pytest.mark.parametrize(("options", "error"), [
    ({"room": "!abc:example.org"}, None),
    ({"room": "!AbCdEf123-_"}, None),                    # room version 12: no server name
    ({"room": "#family:example.org"}, None),
    ({"list": "family"}, None),
    ({"list": "family", "history": "joined", "alias": "fam.room"}, None),
    ({}, "either 'room'"),
    ({"room": "!a:example.org", "list": "family"}, "either 'room'"),
    ({"room": "family"}, "must be a room id"),
    ({"room": "#family"}, "must be a room id"),
    ({"room": "!a:example.org", "history": "joined"}, "only used with 'list'"),
    ({"list": "family", "history": "shared"}, "Input should be"),
    ({"list": "family", "alias": "Has Spaces"}, "String should match"),
])
def test_policy_options(options: dict[str, str], error: str | None) -> None:
    if error is None:
        assert MatrixSpec.reach(MatrixOptions.model_validate(options)) is Reach.ROOM_MEMBERS
        return
    with pytest.raises(ValidationError) as err:
        MatrixOptions.model_validate(options)
    assert error in str(err.value)


@pytest.mark.parametrize(("status", "body", "headers", "error", "wait"), [
    (200, {"event_id": "$x"}, {}, None, None),
    (429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 2500}, {}, TransientDeliveryError,
     2.5),
    (429, {"errcode": "M_LIMIT_EXCEEDED"}, {"retry-after": "9"}, TransientDeliveryError, 9.0),
    (502, {}, {}, TransientDeliveryError, None),
    (401, {"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid token"}, {}, CredentialsRejected,
     None),
    (403, {"errcode": "M_FORBIDDEN", "error": "not in room"}, {}, MatrixError, None),
    (404, {"errcode": "M_NOT_FOUND"}, {}, MatrixError, None),
    (413, {"errcode": "M_TOO_LARGE"}, {}, MatrixError, None),
])
def test_homeserver_answers_are_translated(status: int, body: dict[str, object],
                                           headers: dict[str, str],
                                           error: type[Exception] | None,
                                           wait: float | None) -> None:
    answer = httpx.Response(status, json=body, headers=headers)
    if error is None:
        translate(answer, action="send")
        return
    with pytest.raises(error) as err:
        translate(answer, action="send")
    assert type(err.value) is error
    if "errcode" in body:
        assert str(body["errcode"]) in str(err.value)
    if wait is not None:
        assert isinstance(err.value, TransientDeliveryError) and err.value.retry_after == wait


@pytest.mark.parametrize(("value", "ok"), [
    ("@ana:example.org", True), ("@ana.lima_1:matrix.example.org:8448", True),
    ("ana:example.org", False), ("@ana", False), ("@ana@example.org", False),
])
def test_matrix_identities_are_validated(value: str, ok: bool) -> None:
    from hub.errors import InvalidInput
    from hub.services.people import parse_identity

    if ok:
        assert parse_identity(f"matrix:{value}") == (IdentityKind.MATRIX, value)
        return
    with pytest.raises(InvalidInput) as err:
        parse_identity(f"matrix:{value}")
    assert "@ana:example.org" in err.value.message
