"""Translate atproto SDK / HTTP failures into hub errors, once, at the adapter's edge.

Three questions the publisher asks of a failure: is it about the session (refresh or log in
again, then retry once), could the request have taken effect (check with ``getRecord`` before
writing again), and which hub error does it become.
"""

from __future__ import annotations

import time

from atproto_client import exceptions as sdk
from atproto_client.models.common import XrpcError

from hub.errors import (
    CredentialsRejected,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

PLATFORM = "bluesky"
_TOKEN_ERRORS = {"ExpiredToken", "InvalidToken", "AuthRequired", "AuthenticationRequired",
                 "AccountTakedown", "AccountDeactivated"}


def status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def xrpc_error(exc: BaseException) -> tuple[str, str]:
    """The XRPC ``error`` name and ``message`` of a failed response, or empty strings."""
    content = getattr(getattr(exc, "response", None), "content", None)
    if isinstance(content, XrpcError):
        return content.error or "", content.message or ""
    return "", ""


def is_auth_failure(exc: BaseException) -> bool:
    """The server refused the session (expired, revoked or unreadable token)."""
    if isinstance(exc, sdk.LoginRequiredError | sdk.UnauthorizedError):
        return True
    if isinstance(exc, sdk.BadRequestError):
        return xrpc_error(exc)[0] in {"ExpiredToken", "InvalidToken"}
    return False


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, sdk.BadRequestError) and xrpc_error(exc)[0] == "RecordNotFound"


def outcome_unknown(exc: BaseException) -> bool:
    """A write may have landed: timeout, transport failure, or a 5xx.

    A 500 is included on purpose: the PDS answers 500 when a record already exists at the rkey
    we chose, i.e. when an earlier attempt did land."""
    if isinstance(exc, sdk.RateLimitExceededError):
        return False
    if isinstance(exc, sdk.NetworkError) and exc.response is None:
        return True
    status = status_of(exc)
    return status is not None and status >= 500 and status != 501


def retry_after(exc: sdk.RateLimitExceededError, *, now: float | None = None) -> float | None:
    """Seconds until ``RateLimit-Reset`` (epoch seconds), else ``Retry-After``, never negative."""
    reset_at = exc.reset_at
    if reset_at is not None:
        current = time.time() if now is None else now
        return max(float(reset_at.timestamp()) - current, 0.0)
    seconds = exc.retry_after
    return None if seconds is None else float(seconds)


def translate(exc: BaseException, *, doing: str, now: float | None = None) -> DeliveryError:
    """The hub error for an SDK failure while ``doing`` something (e.g. ``"write post"``)."""
    status = status_of(exc)
    name, message = xrpc_error(exc)
    reason = f"{doing}: {name or type(exc).__name__}" + (f" ({message})" if message else "")
    if isinstance(exc, sdk.RateLimitExceededError):
        return TransientDeliveryError(f"{doing}: rate limited by the PDS", platform=PLATFORM,
                                      status_code=429, retry_after=retry_after(exc, now=now))
    if is_auth_failure(exc) or name in _TOKEN_ERRORS:
        return CredentialsRejected(f"{doing}: Bluesky refused the stored session"
                                   + (f" ({name})" if name else ""),
                                   platform=PLATFORM, status_code=status)
    if isinstance(exc, sdk.InvokeTimeoutError):
        return TransientDeliveryError(f"{doing}: timed out", platform=PLATFORM)
    if isinstance(exc, sdk.NetworkError) and exc.response is None:
        return TransientDeliveryError(f"{doing}: network error ({exc.__cause__ or exc})",
                                      platform=PLATFORM)
    if status is not None and (status >= 500 and status != 501 or status in {408, 409}):
        return TransientDeliveryError(reason, platform=PLATFORM, status_code=status)
    return PermanentDeliveryError(reason, platform=PLATFORM, status_code=status)


class OutcomeUnknown(TransientDeliveryError):
    """A write failed in a way that may hide success; check with ``getRecord`` before retrying."""


def translate_write(exc: BaseException, *, doing: str, now: float | None = None) -> DeliveryError:
    """Like :func:`translate`, but marks failures after which the write may have landed."""
    error = translate(exc, doing=doing, now=now)
    if isinstance(error, TransientDeliveryError) and outcome_unknown(exc):
        return OutcomeUnknown(error.message, platform=PLATFORM, status_code=error.status_code)
    return error
