"""Policy options for Bluesky targets. Bluesky is world-readable whatever the options say:
threadgate and postgate restrict replies and quotes, not who can read."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

from hub.domain.model import IdentityKind, Reach
from hub.ports import EditWay, PlatformFacts

_GATE_RULES = {"nobody", "mentioned", "followers", "following"}


class BlueskyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threadgate: list[str] | None = None
    """Who may reply: ``nobody`` or any of ``mentioned``, ``followers``, ``following``,
    ``list:<hub list>`` (synced to a Bluesky curatelist). Unset: anyone may reply."""
    quotes: bool = True
    """``false`` writes a postgate that disables quoting."""
    split: bool = False
    """Allow splitting text over 300 graphemes into a thread (otherwise it is refused)."""
    link_cards: bool = False
    """Allow fetching the first link to build a link card."""

    @field_validator("threadgate")
    @classmethod
    def _known_rules(cls, rules: list[str] | None) -> list[str] | None:
        for rule in rules or []:
            if rule not in _GATE_RULES and not rule.startswith("list:"):
                raise ValueError(
                    f"unknown threadgate rule {rule!r}; use nobody, mentioned, followers, "
                    "following or list:<name>")
        if rules and "nobody" in rules and len(rules) > 1:
            raise ValueError("threadgate 'nobody' cannot be combined with other rules")
        return rules


class BlueskySpec:
    platform: ClassVar[str] = "bluesky"
    options: ClassVar[type[BaseModel]] = BlueskyOptions
    needs_connection: ClassVar[bool] = True
    facts: ClassVar[PlatformFacts] = PlatformFacts(
        display_name="Bluesky", identity=IdentityKind.BLUESKY)

    @classmethod
    def reach(cls, options: BaseModel) -> Reach:
        return Reach.WORLD

    @classmethod
    def edit_way(cls, options: BaseModel) -> EditWay:
        """No edit in Bluesky's apps: the records are replaced (new keys, same gates)."""
        return EditWay.REPLACE
