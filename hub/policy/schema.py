"""Pydantic models of one policy file, exactly as the owner writes it (see ``policies/README.md``).

Every model is frozen and refuses unknown keys, except :class:`TargetModel`, whose extra keys are
the platform's own options: the loader validates those with ``specs[platform].options``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from hub.domain.model import Reach
from hub.domain.reading import tag_key

#: Rule ids the engine itself uses in decisions; a file may not take them.
RESERVED_RULE_IDS = frozenset({"default-deny", "never-widen"})

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ACCOUNT_RE = re.compile(r"^[a-z][a-z0-9-]*:[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_AUTHOR_RE = re.compile(r"^(owner|token:\*|token:[A-Za-z0-9][A-Za-z0-9_.-]{0,62})$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_FROZEN = ConfigDict(extra="forbid", frozen=True)


def _name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit (at most 63 characters)")
    return value


def _account(value: str) -> str:
    if not _ACCOUNT_RE.match(value):
        raise ValueError(
            f"{value!r} is not an account name: write '<platform>:<name>', "
            "e.g. 'mastodon:main' or 'email:personal'")
    return value


def _tag(value: str) -> str:
    # folded as the post's tags are read (NFKC, case, invisible characters; see reading.py)
    tag = tag_key(value.strip())
    if not tag or any(ch.isspace() for ch in tag):
        raise ValueError(f"{value!r} is not a tag: write it without spaces, e.g. 'private'")
    return tag


def _regex(value: str) -> str:
    try:
        re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


def _author(value: str) -> str:
    if not _AUTHOR_RE.match(value):
        raise ValueError(
            f"{value!r} is not an author: write 'owner', 'token:<token name>' or 'token:*'")
    return value


def _language(value: str) -> str:
    lowered = value.strip().lower()
    if not _LANGUAGE_RE.match(lowered):
        raise ValueError(f"{value!r} is not a language code: write e.g. 'en', 'pt-BR' "
                         "(quote 'no' for Norwegian)")
    return lowered


def _hours(value: str) -> str:
    match = _HOURS_RE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a time window: write \"HH:MM-HH:MM\" in quotes, "
                         "e.g. \"22:00-07:00\"")
    if match.group(1, 2) == match.group(3, 4):
        raise ValueError(f"{value!r} starts and ends at the same minute; leave 'hours' out "
                         "to match the whole day")
    return value.strip()


def _hours_text(value: object) -> object:
    if isinstance(value, int | float):
        # unquoted 22:00 is a YAML 1.1 base-60 number (1320), not text
        raise ValueError("write hours in quotes, e.g. \"22:00-07:00\" (unquoted, YAML reads "
                         "22:00 as a number)")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):   # OSError: a folder, too long
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from None
    return value


def _rule_id(value: str) -> str:
    if value in RESERVED_RULE_IDS:
        raise ValueError(f"the id {value!r} is reserved for the engine; choose another")
    return value


def _one_or_many(value: object) -> object:
    """Let an owner write ``tags: private`` for ``tags: [private]``."""
    return [value] if isinstance(value, str) else value


Name = Annotated[str, AfterValidator(_name)]
AccountName = Annotated[str, AfterValidator(_account)]
Tag = Annotated[str, AfterValidator(_tag)]
Pattern = Annotated[str, AfterValidator(_regex)]
Author = Annotated[str, AfterValidator(_author)]
Language = Annotated[str, AfterValidator(_language)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ConditionsModel(BaseModel):
    """What a post and target must look like for a rule to apply. All given keys must match;
    a list matches when any of its values does."""

    model_config = _FROZEN

    tags: Annotated[tuple[Tag, ...], BeforeValidator(_one_or_many)] = ()
    audiences: Annotated[tuple[Name, ...], BeforeValidator(_one_or_many)] = ()
    targets: Annotated[tuple[Name, ...], BeforeValidator(_one_or_many)] = ()
    platforms: Annotated[tuple[Name, ...], BeforeValidator(_one_or_many)] = ()
    accounts: Annotated[tuple[AccountName, ...], BeforeValidator(_one_or_many)] = ()
    reach: Annotated[tuple[Reach, ...], BeforeValidator(_one_or_many)] = ()
    text: Annotated[tuple[Pattern, ...], BeforeValidator(_one_or_many)] = ()
    mentions_member_of: Annotated[tuple[Name, ...], BeforeValidator(_one_or_many)] = ()
    has_media: bool | None = None
    missing_alt_text: bool | None = None
    author: Annotated[tuple[Author, ...], BeforeValidator(_one_or_many)] = ()
    language: Annotated[tuple[Language, ...], BeforeValidator(_one_or_many)] = ()
    weekdays: Annotated[tuple[Weekday, ...], BeforeValidator(_one_or_many)] = ()
    hours: Annotated[str, BeforeValidator(_hours_text), AfterValidator(_hours)] | None = None
    timezone: Annotated[str, AfterValidator(_timezone)] | None = None


class RuleModel(BaseModel):
    """One rule: exactly one of ``deny``, ``hold`` (with their conditions) or ``require``
    (with optional ``when`` conditions)."""

    model_config = _FROZEN

    id: Annotated[Name, AfterValidator(_rule_id)]
    deny: ConditionsModel | None = None
    hold: ConditionsModel | None = None
    require: Literal["content_warning", "alt_text"] | None = None
    when: ConditionsModel | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None

    @model_validator(mode="after")
    def _one_action(self) -> RuleModel:
        actions = [k for k in ("deny", "hold", "require") if getattr(self, k) is not None]
        if len(actions) != 1:
            given = f" (it has {' and '.join(actions)})" if actions else ""
            raise ValueError(f"a rule needs exactly one of 'deny', 'hold' or 'require'{given}")
        if self.when is not None and self.require is None:
            raise ValueError(f"'when' goes with 'require'; put the conditions of a "
                             f"{actions[0]} rule under '{actions[0]}:' itself")
        return self


class AudienceModel(BaseModel):
    """A choice on the compose form: a set of targets and the widest reach it promises."""

    model_config = _FROZEN

    reach: Reach = Reach.RECIPIENTS
    targets: Annotated[tuple[Name, ...], BeforeValidator(_one_or_many)] = ()
    description: str = ""


class TargetModel(BaseModel):
    """``account`` plus the platform's options (extra keys, validated by the loader)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    account: AccountName


class ApprovalModel(BaseModel):
    """Who may release a held post."""

    model_config = _FROZEN

    separate_approver: Literal["none", "tokens", "everyone"] = "none"
    """``tokens``: a held post written with an API token is released only by the owner or
    another token, never by the token that wrote it; ``everyone``: nobody approves their own
    post; ``none``: the author may approve (the owner always may, for their own posts)."""


class ListModel(BaseModel):
    """A list that keeps itself: its members are whoever ``rule`` names (``hub.policy.lists``)."""

    model_config = _FROZEN

    rule: Annotated[str, Field(min_length=1, max_length=2000)]
    description: str = ""


class PolicyFileModel(BaseModel):
    """One policy file. Files in the directory merge; each must say ``version: 1``."""

    model_config = _FROZEN

    version: Literal[1]
    accounts: Annotated[tuple[AccountName, ...], BeforeValidator(_one_or_many)] = ()
    targets: dict[Name, TargetModel] = Field(default_factory=dict)
    audiences: dict[Name, AudienceModel] = Field(default_factory=dict)
    rules: tuple[RuleModel, ...] = ()
    lists: dict[Name, ListModel] = Field(default_factory=dict)
    approval: ApprovalModel | None = None
