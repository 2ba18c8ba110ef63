"""Webhook adapter without a network: signatures (checked by the reference library), payload
rendering and limits, policy options, and how each receiver answer is classified."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from adapters.webhook import entry, render, signing
from adapters.webhook.spec import WebhookOptions, WebhookSpec
from hub.domain.model import Media, PeopleSnapshot, Person, PersonId, Post, PostId, Reach, Target
from hub.errors import (
    ContentRejected,
    CredentialsRejected,
    InvalidInput,
    PermanentDeliveryError,
    TransientDeliveryError,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _post(text: str = "hello", **kw: object) -> Post:
    return Post(id=PostId("p1"), text=text, audiences=("team",), created=NOW, **kw)  # type: ignore[arg-type]


def _target(reach: Reach = Reach.RECIPIENTS, list_name: str | None = "team") -> Target:
    options = {"reach": reach.value, "list": list_name}
    return Target("team-hook", "webhook:team", reach, options)


def test_a_signature_verifies_with_the_reference_library() -> None:
    secret = signing.new_secret()
    body = b'{"type":"post.published"}'
    ts = int(datetime.now(UTC).timestamp())
    headers = signing.headers(signing.secret_bytes(secret), msg_id="msg_1", timestamp=ts,
                              body=body)
    assert Webhook(secret).verify(body, headers) == {"type": "post.published"}
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)


def test_the_signature_matches_the_standard_webhooks_test_vector() -> None:
    """The example from the Standard Webhooks specification's reference tests."""
    key = signing.secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    got = signing.sign(key, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330,
                       body=b'{"test": 2432232314}')
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(("secret", "reason"), [
    ("whsec_not base64!", "base64"),
    ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes"),
])
def test_malformed_secrets_are_refused_without_echoing_them(secret: str, reason: str) -> None:
    with pytest.raises(ValueError) as err:
        signing.secret_bytes(secret)
    assert reason in str(err.value) and secret not in str(err.value)


def test_the_payload_carries_text_tags_audience_and_media_metadata() -> None:
    post = _post("Standup at 10", tags=("work",), content_warning="schedule", language="en",
                 media=(Media("a" * 64, "image/png", "a chart", 10),))
    event = render.payload(post, _target(), WebhookOptions(reach=Reach.RECIPIENTS, list="team"))
    assert event["type"] == "post.published" and event["timestamp"] == NOW.isoformat()
    data = event["data"]
    assert isinstance(data, dict)
    assert data["text"] == "Standup at 10" and data["tags"] == ["work"]
    assert data["content_warning"] == "schedule" and data["language"] == "en"
    assert data["audience"] == {"requested": ["team"], "reach": "recipients", "list": "team"}
    assert data["media"] == [{"sha256": "a" * 64, "mime_type": "image/png", "alt": "a chart",
                              "size": 10}]


def test_the_body_is_the_same_bytes_on_every_attempt_with_media_inline() -> None:
    post = _post(media=(Media("b" * 64, "image/png", "alt", 3),))
    event = render.payload(post, _target(), WebhookOptions(reach=Reach.RECIPIENTS, list="team"))
    first = render.body(event, key="3lkey", media_loader=lambda sha: b"PNG")
    again = render.body(event, key="3lkey", media_loader=lambda sha: b"PNG")
    assert first == again
    data = json.loads(first)["data"]
    assert data["delivery_key"] == "3lkey"
    assert base64.b64decode(data["media"][0]["content_base64"]) == b"PNG"


@pytest.mark.parametrize(("post", "why"), [
    (_post("x" * (render.MAX_TEXT + 1)), "limited to 100000 characters"),
    (_post(media=(Media("c" * 64, "image/png", "", render.MAX_INLINE_MEDIA + 1),)),
     "at most 8 MiB of media"),
])
def test_what_a_webhook_cannot_carry_is_rejected_in_prepare(post: Post, why: str) -> None:
    with pytest.raises(ContentRejected) as err:
        render.payload(post, _target(), WebhookOptions(reach=Reach.RECIPIENTS, list="team"))
    assert why in err.value.message


def test_recipients_are_the_declared_lists_members() -> None:
    people = PeopleSnapshot({PersonId("1"): Person(PersonId("1"), "Ana")},
                            {"team": frozenset({PersonId("1")})})
    [ana] = render.recipients(WebhookOptions(reach=Reach.RECIPIENTS, list="team"), people)
    assert (ana.person_id, ana.name, ana.via_list) == ("1", "Ana", "team")


@pytest.mark.parametrize(("options", "reach", "error"), [
    ({"reach": "world"}, Reach.WORLD, None),
    ({"reach": "followers"}, Reach.FOLLOWERS, None),
    ({"reach": "room-members", "list": "team"}, Reach.ROOM_MEMBERS, None),
    ({"reach": "recipients", "list": "team"}, Reach.RECIPIENTS, None),
    ({}, None, "Field required"),
    ({"reach": "recipients"}, None, "needs 'list'"),
    ({"reach": "world", "list": "team"}, None, "only used with reach"),
    ({"reach": "everyone"}, None, "Input should be"),
    ({"reach": "world", "url": "https://x"}, None, "Extra inputs"),
])
def test_the_reach_must_be_declared(options: dict[str, str], reach: Reach | None,
                                    error: str | None) -> None:
    if error is None:
        assert WebhookSpec.reach(WebhookOptions.model_validate(options)) is reach
        return
    with pytest.raises(ValidationError) as err:
        WebhookOptions.model_validate(options)
    assert error in str(err.value)


def _answer(status: int, headers: dict[str, str] | None = None, body: str = "") -> httpx.Response:
    return httpx.Response(status, headers=headers, text=body)


@pytest.mark.parametrize(("status", "headers", "error", "retry_after"), [
    (200, {}, None, None),
    (204, {}, None, None),
    (500, {}, TransientDeliveryError, None),
    (503, {"retry-after": "30"}, TransientDeliveryError, 30.0),
    (429, {"retry-after": "7"}, TransientDeliveryError, 7.0),
    (408, {}, TransientDeliveryError, None),
    (401, {}, CredentialsRejected, None),
    (403, {}, CredentialsRejected, None),
    (410, {}, PermanentDeliveryError, None),
    (302, {"location": "https://x.example/"}, PermanentDeliveryError, None),
    (400, {}, PermanentDeliveryError, None),
    (422, {}, PermanentDeliveryError, None),
])
def test_receiver_answers_are_classified(status: int, headers: dict[str, str],
                                         error: type[Exception] | None,
                                         retry_after: float | None) -> None:
    answer = _answer(status, headers, "said no")
    if error is None:
        entry.classify(answer, action="deliver")
        return
    with pytest.raises(error) as err:
        entry.classify(answer, action="deliver")
    assert type(err.value) is error
    assert getattr(err.value, "status_code", None) == status
    if retry_after is not None:
        assert isinstance(err.value, TransientDeliveryError)
        assert err.value.retry_after == retry_after


def test_retry_after_as_an_http_date_is_in_the_future() -> None:
    answer = _answer(503, {"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"})
    assert (entry.retry_after(answer) or 0) > 3600


@pytest.mark.parametrize(("settings", "secret", "message"), [
    ({"url": "ftp://x.example/"}, signing.new_secret(), "http:// or https://"),
    ({"url": "https://me:pw@x.example/"}, signing.new_secret(),
     "no credentials in the webhook URL"),
    ({"url": "https://x.example/", "extra": 1}, signing.new_secret(), "Extra inputs"),
    ({"url": "https://x.example/"}, "", "a signing secret is needed"),
    ({"url": "https://x.example/"}, "whsec_???", "base64"),
])
def test_connect_refuses_bad_settings_readably(settings: dict[str, object], secret: str,
                                               message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        asyncio.run(entry.connect(settings, secret))  # type: ignore[arg-type]
    assert message in err.value.message
    assert not secret or secret not in err.value.message


def test_connect_stores_the_secret_with_its_prefix() -> None:
    raw = signing.new_secret().removeprefix("whsec_")
    stored, secret = asyncio.run(entry.connect({"url": "https://x.example/h"}, raw))
    assert stored == {"url": "https://x.example/h", "timeout": 15.0}
    assert secret == "whsec_" + raw
