"""Mastodon.py exceptions become hub errors in one place; cached settings read back typed."""

from __future__ import annotations

import time

import pytest
from mastodon.errors import (
    MastodonAPIError,
    MastodonInternalServerError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServiceUnavailableError,
    MastodonUnauthorizedError,
)

from adapters.mastodon._errors import UnexpectedMentions, translate
from adapters.mastodon.limits import (
    AccountSettings,
    allowed_mentions_supported,
    limits_from_instance,
)
from hub.errors import (
    CredentialsRejected,
    InvalidInput,
    NotFound,
    PermanentDeliveryError,
    TransientDeliveryError,
)


def api_error(cls, status, message):
    return cls("Mastodon API returned error", status, "reason", message)


@pytest.mark.parametrize(("exc", "expected", "status"), [
    (MastodonNetworkError("Could not complete request: read timed out"),
     TransientDeliveryError, None),
    (api_error(MastodonInternalServerError, 500, "boom"), TransientDeliveryError, 500),
    (api_error(MastodonServiceUnavailableError, 503, "down"), TransientDeliveryError, 503),
    (api_error(MastodonUnauthorizedError, 401, "The access token is invalid"),
     CredentialsRejected, 401),
    (api_error(MastodonAPIError, 403, "This action is outside the authorized scopes"),
     CredentialsRejected, 403),
    (api_error(MastodonAPIError, 422, "Validation failed: Text character limit of 500 exceeded"),
     PermanentDeliveryError, 422),
    (api_error(MastodonNotFoundError, 404, "Record not found"), NotFound, None),
])
def test_translation_table(exc, expected, status):
    err = translate(exc, action="post the status", ratelimit_reset=None)
    assert type(err) is expected
    assert getattr(err, "status_code", None) == status
    assert err.message.startswith("post the status")


def test_422_keeps_the_servers_message():
    err = translate(api_error(MastodonAPIError, 422, "Validation failed: Text can't be blank"),
                    action="post", ratelimit_reset=None)
    assert "Validation failed: Text can't be blank" in err.message


def test_429_carries_the_time_until_the_reset():
    err = translate(MastodonRatelimitError("Hit rate limit."), action="post",
                    ratelimit_reset=time.time() + 42)
    assert isinstance(err, TransientDeliveryError) and err.status_code == 429
    assert err.retry_after is not None and 40 < err.retry_after <= 42


def test_unexpected_mentions_name_the_accounts():
    err = translate(api_error(MastodonAPIError, 422, "Post would be sent to unexpected accounts"),
                    action="post", ratelimit_reset=None,
                    body={"unexpected_accounts": [{"id": "9", "acct": "eve@evil.example"}]})
    assert isinstance(err, UnexpectedMentions) and isinstance(err, PermanentDeliveryError)
    assert err.accounts == [("9", "eve@evil.example")]
    assert "@eve@evil.example" in err.message


@pytest.mark.parametrize(("version", "supported"), [
    ("4.5.0", True), ("4.3.0+glitch", True), ("4.0.0rc1", True), ("3.5.3", False),
    ("2.7.2 (compatible; Pleroma 2.5.0)", False), ("0.17.0 git-abc", False), ("", False),
])
def test_allowed_mentions_needs_mastodon_4(version, supported):
    assert allowed_mentions_supported(version) is supported


def test_limits_from_the_instance_and_defaults():
    limits, mimes = limits_from_instance({"configuration": {
        "statuses": {"max_characters": 5000, "characters_reserved_per_url": 23},
        "media_attachments": {"description_limit": 1000, "supported_mime_types": ["image/png"]},
    }})
    assert limits["max_characters"] == 5000 and limits["description_limit"] == 1000
    assert limits["max_media_attachments"] == 4 and mimes == ["image/png"]


def test_settings_read_back_typed_with_defaults():
    settings = AccountSettings.from_settings({"instance": "example.social/", "locked": True,
                                              "limits": {"max_characters": 700},
                                              "request_timeout": 5})
    assert settings.instance == "https://example.social"
    assert settings.limit("max_characters") == 700 and settings.limit("description_limit") == 1500
    assert settings.locked and settings.request_timeout == 5.0
    with pytest.raises(InvalidInput):
        AccountSettings.from_settings({})
