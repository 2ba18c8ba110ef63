"""The hub's whole exception tree. Web and CLI map these to responses through ``status``.

::

    HubError (status 400)
      ├── InvalidInput (400)              bad request data (names the field)
      │     ├── UnknownAudience (422)
      │     └── ImageTooLarge (413)         more pixels than the hub will decode
      ├── ContentRejected (422)            text/media a target cannot carry
      ├── NotFound (404)
      ├── Conflict (409)                  not now: a deleted post, a preview gone stale
      ├── AuthError (401)
      │     └── Forbidden (403)           token scope / audience allow-list
      ├── PolicyError (400)
      │     └── PolicyFileInvalid         file + line + reason; old policy stays in force
      ├── AccountNotConnected (409)       no credentials stored for a named account
      └── DeliveryError (502)
            ├── PermanentDeliveryError    auth, validation: stop, show the platform's reason
            │     └── CredentialsRejected  expired/revoked: mark the account too
            └── TransientDeliveryError    network, 5xx, 429: retry (after ``retry_after``)
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidInput(HubError):
    """Request data is malformed or out of range; ``field`` names what."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownAudience(InvalidInput):
    """A post asked for an audience that no policy file defines."""

    status = 422

    def __init__(self, audience: str, known: list[str]) -> None:
        defined = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown audience {audience!r}; the policy defines: {defined}",
                         field="audiences")
        self.audience = audience


class ImageTooLarge(InvalidInput):
    """An image declares more pixels than the hub decodes (a decompression bomb, or simply
    too big): refused before any pixel is decoded."""

    status = 413


class ContentRejected(HubError):
    """A target cannot carry this content (too long, missing alt text...)."""

    status = 422

    def __init__(self, message: str, *, target: str | None = None) -> None:
        super().__init__(message)
        self.target = target


class NotFound(HubError):
    status = 404


class Conflict(HubError):
    """The request is fine but the hub's state does not allow it now (a deleted post, a plan
    that changed since its preview)."""

    status = 409


class AuthError(HubError):
    status = 401


class Forbidden(AuthError):
    status = 403


class PolicyError(HubError):
    """Anything wrong with the policy as a whole."""


class PolicyFileInvalid(PolicyError):
    """One policy file is refused. Carries the file and line so the owner can fix it."""

    def __init__(self, file: str, line: int | None, reason: str,
                 others: tuple[str, ...] = ()) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason
        self.others = others     # the further problems, each "file:line: reason"


class AccountNotConnected(HubError):
    """The policy names an account for which no connection is stored."""

    status = 409


class DeliveryError(HubError):
    """Publishing to a platform failed."""

    status = 502

    def __init__(self, message: str, *, platform: str | None = None,
                 status_code: int | None = None) -> None:
        super().__init__(message)
        self.platform = platform
        self.status_code = status_code


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help (auth, validation). The reason is shown on the delivery."""


class CredentialsRejected(PermanentDeliveryError):
    """The platform refused the stored credentials; the account is marked and the owner told."""


class TransientDeliveryError(DeliveryError):
    """Try again later; ``retry_after`` (seconds) when the platform said when."""

    def __init__(self, message: str, *, platform: str | None = None,
                 status_code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, platform=platform, status_code=status_code)
        self.retry_after = retry_after
