"""Policy options for private Atom feeds served by the hub itself."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from hub.domain.model import Reach
from hub.ports import EditWay, PlatformFacts


class FeedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    list: str
    """The hub list whose members get a personal token URL for this feed."""
    feed: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    """Feed name in ``/feeds/{feed}.atom``; defaults to the list name."""


class FeedSpec:
    platform: ClassVar[str] = "feed"
    options: ClassVar[type[BaseModel]] = FeedOptions
    needs_connection: ClassVar[bool] = False
    facts: ClassVar[PlatformFacts] = PlatformFacts(
        display_name="private feed", reaches_people="through their private feed")

    @classmethod
    def reach(cls, options: BaseModel) -> Reach:
        return Reach.RECIPIENTS

    @classmethod
    def edit_way(cls, options: BaseModel) -> EditWay:
        """The hub serves the entry: it shows the new version, marked with ``atom:updated``."""
        return EditWay.IN_PLACE
