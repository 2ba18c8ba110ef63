"""Policy options for Mastodon targets: visibility decides the reach."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from hub.domain.model import IdentityKind, Reach
from hub.ports import EditWay, PlatformFacts

_REACH = {
    "public": Reach.WORLD,
    "unlisted": Reach.WORLD_UNLISTED,
    "private": Reach.FOLLOWERS,
    "direct": Reach.RECIPIENTS,
}


class MastodonOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    visibility: Literal["public", "unlisted", "private", "direct"]
    """Always explicit: Mastodon falls back to the account default when it is omitted."""
    list: str | None = None
    """For ``direct``: the hub list whose members are mentioned (and only they)."""
    split: bool = False
    """Allow splitting long text into a thread (or several direct posts)."""
    sensitive: bool = False
    """Mark media sensitive even without a content warning."""
    quotes: Literal["anyone", "followers", "nobody"] | None = None
    """Who may quote the post (Mastodon 4.5+ ``quote_approval_policy``); unset: the account's
    default. The server forces ``nobody`` for private and direct posts."""

    @model_validator(mode="after")
    def _direct_needs_list(self) -> MastodonOptions:
        if self.visibility == "direct" and not self.list:
            raise ValueError("visibility 'direct' needs 'list': the hub list to address")
        if self.visibility != "direct" and self.list:
            raise ValueError("'list' is only used with visibility 'direct'")
        return self


class MastodonSpec:
    platform: ClassVar[str] = "mastodon"
    options: ClassVar[type[BaseModel]] = MastodonOptions
    needs_connection: ClassVar[bool] = True
    facts: ClassVar[PlatformFacts] = PlatformFacts(
        display_name="Mastodon", reaches_people="as a direct Mastodon message",
        identity=IdentityKind.MASTODON, mentions_can_read=True)

    @classmethod
    def reach(cls, options: BaseModel) -> Reach:
        assert isinstance(options, MastodonOptions)
        return _REACH[options.visibility]

    @classmethod
    def edit_way(cls, options: BaseModel) -> EditWay:
        """``PUT /api/v1/statuses/:id``: the status keeps its id."""
        return EditWay.NATIVE
