"""What ``connect`` caches about an account and its instance, read back from the settings.

``connect`` stores these keys in the account's (non-secret) settings; ``prepare`` uses them so it
never needs the network, and ``publish`` uses the client knobs (timeouts, polling).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.errors import InvalidInput
from hub.ports import JSON

DEFAULT_LIMITS: dict[str, int] = {
    "max_characters": 500,
    "characters_reserved_per_url": 23,
    "max_media_attachments": 4,
    "description_limit": 1500,
    "image_size_limit": 16 * 1024 * 1024,
    "video_size_limit": 99 * 1024 * 1024,
}


@dataclass(frozen=True)
class AccountSettings:
    """Typed view of one Mastodon account's stored settings."""

    instance: str                    # https://example.social (no trailing slash)
    account_id: str = ""
    username: str = ""
    domain: str = ""                 # WebFinger domain: the @domain of local accounts
    locked: bool = False
    version: str = ""
    supports_allowed_mentions: bool = False
    limits: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    mime_types: tuple[str, ...] = ()
    request_timeout: float = 30.0
    media_poll_interval: float = 1.0
    media_wait: float = 60.0         # longer than this: transient error, resume polling later
    followers_max_pages: int = 250   # 250 x 80 = 20,000 followers (paging budget 300/15 min)

    @property
    def acct(self) -> str:
        return f"@{self.username}@{self.domain}"

    @property
    def supports_quote_policy(self) -> bool:
        """``quote_approval_policy`` arrived in Mastodon 4.5 (API version 7)."""
        return version_at_least(self.version, (4, 5))

    def limit(self, name: str) -> int:
        return int(self.limits.get(name, DEFAULT_LIMITS[name]))

    @classmethod
    def from_settings(cls, settings: Mapping[str, JSON]) -> AccountSettings:
        instance = settings.get("instance")
        if not isinstance(instance, str) or not instance:
            raise InvalidInput("a Mastodon account needs an instance URL", field="instance")
        raw_limits = settings.get("limits")
        limits = dict(DEFAULT_LIMITS)
        if isinstance(raw_limits, Mapping):
            limits.update({k: int(v) for k, v in raw_limits.items()
                           if isinstance(v, int | float) and not isinstance(v, bool)})
        mimes = settings.get("supported_mime_types")
        return cls(
            instance=normalise_instance(instance),
            account_id=_str(settings.get("account_id")),
            username=_str(settings.get("username")),
            domain=_str(settings.get("domain")).casefold(),
            locked=settings.get("locked") is True,
            version=_str(settings.get("version")),
            supports_allowed_mentions=settings.get("supports_allowed_mentions") is True,
            limits=limits,
            mime_types=tuple(m for m in mimes if isinstance(m, str)) if isinstance(mimes, list)
            else (),
            request_timeout=_num(settings.get("request_timeout"), 30.0),
            media_poll_interval=_num(settings.get("media_poll_interval"), 1.0),
            media_wait=_num(settings.get("media_wait"), 60.0),
            followers_max_pages=int(_num(settings.get("followers_max_pages"), 250)),
        )


def normalise_instance(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        url = "https://" + url
    return url


def limits_from_instance(instance: Mapping[str, Any]) -> tuple[dict[str, int], list[str]]:
    """The limits ``prepare`` needs, from an ``/api/v2/instance`` answer (defaults if absent)."""
    config = instance.get("configuration") or {}
    statuses = config.get("statuses") or {}
    media = config.get("media_attachments") or {}
    limits = dict(DEFAULT_LIMITS)
    for key in ("max_characters", "characters_reserved_per_url", "max_media_attachments"):
        if isinstance(statuses.get(key), int):
            limits[key] = statuses[key]
    for key in ("description_limit", "image_size_limit", "video_size_limit"):
        if isinstance(media.get(key), int):
            limits[key] = media[key]
    mimes = [m for m in media.get("supported_mime_types") or [] if isinstance(m, str)]
    return limits, mimes


def allowed_mentions_supported(version: str) -> bool:
    """``allowed_mentions[]`` arrived in Mastodon 4.0 (PR #18350)."""
    return version_at_least(version, (4, 0))


def version_at_least(version: str, wanted: tuple[int, int]) -> bool:
    """Mastodon ``version`` is ``wanted`` (major, minor) or later; forks that report
    "x.y.z (compatible; Other 1.2)" are other software and may ignore what Mastodon added."""
    if "compatible" in version.casefold():
        return False
    head = version.split("+", 1)[0].split("-", 1)[0].split(".")
    try:
        found = (int(head[0]), int(head[1]) if len(head) > 1 and head[1] else 0)
    except ValueError:
        return False
    return found >= wanted


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _num(value: object, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default
