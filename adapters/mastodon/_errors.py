"""Translate Mastodon.py exceptions into hub errors, once, at the adapter's edge.

Network failures, timeouts, 429 and 5xx are transient (429 waits for the instance's
``X-RateLimit-Reset``); 401/403 mean the token is no good; 404 is ``NotFound``; anything else
(422 validation, unexpected 4xx) is permanent and carries the server's own message.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonVersionError,
)

from hub.errors import (
    CredentialsRejected,
    DeliveryError,
    NotFound,
    PermanentDeliveryError,
    TransientDeliveryError,
)

PLATFORM = "mastodon"


class UnexpectedMentions(PermanentDeliveryError):
    """422 from ``allowed_mentions[]``: the text would reach ``accounts`` (``user@domain``)."""

    def __init__(self, message: str, *, accounts: list[tuple[str, str]]) -> None:
        super().__init__(message, platform=PLATFORM, status_code=422)
        self.accounts = accounts     # (id, acct as the server wrote it)


def status_of(exc: MastodonAPIError) -> int | None:
    """The HTTP status Mastodon.py stored in the exception's args, if any."""
    args = exc.args
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def message_of(exc: MastodonError) -> str:
    """The server's error text (``{"error": ...}``) or Mastodon.py's own message."""
    args = exc.args
    if len(args) > 3 and args[3]:
        return str(args[3])
    return str(args[0]) if args else type(exc).__name__


def translate(exc: MastodonError, *, action: str, ratelimit_reset: float | None,
              body: Mapping[str, Any] | None = None) -> DeliveryError | NotFound:
    """Map one Mastodon.py exception to the hub error to raise (``raise ... from exc``).

    ``ratelimit_reset`` is the client's parsed ``X-RateLimit-Reset`` (epoch seconds, already
    corrected for clock skew by Mastodon.py); ``body`` the JSON error body when it was kept.
    """
    if isinstance(exc, MastodonRatelimitError):
        wait = None if ratelimit_reset is None else max(0.0, ratelimit_reset - time.time())
        return TransientDeliveryError(
            f"{action}: rate limited by the instance"
            + (f"; resets in {wait:.0f}s" if wait is not None else ""),
            platform=PLATFORM, status_code=429, retry_after=wait)
    if isinstance(exc, MastodonNetworkError):
        # Timeouts land here too: the outcome is unknown, so the retry must reuse the key.
        return TransientDeliveryError(f"{action}: network error: {message_of(exc)}",
                                      platform=PLATFORM)
    if isinstance(exc, MastodonVersionError):
        return PermanentDeliveryError(f"{action}: {message_of(exc)}", platform=PLATFORM)
    if isinstance(exc, MastodonIllegalArgumentError):
        return PermanentDeliveryError(f"{action}: {message_of(exc)}", platform=PLATFORM)
    if isinstance(exc, MastodonServerError):
        return TransientDeliveryError(f"{action}: server error {status_of(exc)}: "
                                      f"{message_of(exc)}", platform=PLATFORM,
                                      status_code=status_of(exc))
    if isinstance(exc, MastodonNotFoundError):
        return NotFound(f"{action}: not found on the instance: {message_of(exc)}")
    if isinstance(exc, MastodonAPIError):
        code = status_of(exc)
        text = message_of(exc)
        unexpected = body.get("unexpected_accounts") if body else None
        if code == 422 and isinstance(unexpected, list):
            accounts = [(str(a.get("id")), str(a.get("acct"))) for a in unexpected
                        if isinstance(a, Mapping)]
            return UnexpectedMentions(
                f"{action}: the instance refused: {text}: "
                + ", ".join("@" + acct for _, acct in accounts), accounts=accounts)
        if code in (401, 403):
            return CredentialsRejected(f"{action}: the instance refused the token ({code}): {text}",
                                       platform=PLATFORM, status_code=code)
        if code is not None and (code >= 500 or code in (408, 429)):
            return TransientDeliveryError(f"{action}: HTTP {code}: {text}", platform=PLATFORM,
                                          status_code=code)
        return PermanentDeliveryError(f"{action}: HTTP {code}: {text}", platform=PLATFORM,
                                      status_code=code)
    return TransientDeliveryError(f"{action}: {message_of(exc)}", platform=PLATFORM)
