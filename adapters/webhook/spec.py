"""Policy options for webhook targets: the hub cannot see who reads a receiver's output, so the
policy must declare the reach (there is no default) and never-widen then applies to it."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from hub.domain.model import Reach
from hub.ports import EditWay, PlatformFacts

_WITH_LIST = (Reach.RECIPIENTS, Reach.ROOM_MEMBERS)


class WebhookOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reach: Reach
    """Who the receiver shows the post to, as the owner declares it: required, no default."""
    list: str | None = None
    """For ``recipients`` (required) or ``room-members``: the hub list the receiver serves;
    its members at send time are recorded as who could see (as declared, not as observed)."""

    @model_validator(mode="after")
    def _list_matches_reach(self) -> WebhookOptions:
        if self.reach is Reach.RECIPIENTS and not self.list:
            raise ValueError("reach 'recipients' needs 'list': the hub list whose members the "
                             "receiver reaches")
        if self.list and self.reach not in _WITH_LIST:
            raise ValueError(f"'list' is only used with reach recipients or room-members, "
                             f"not {self.reach.value}")
        return self


class WebhookSpec:
    platform: ClassVar[str] = "webhook"
    options: ClassVar[type[BaseModel]] = WebhookOptions
    needs_connection: ClassVar[bool] = True
    facts: ClassVar[PlatformFacts] = PlatformFacts(
        display_name="webhook", reaches_people="through the webhook's receiver")

    @classmethod
    def reach(cls, options: BaseModel) -> Reach:
        assert isinstance(options, WebhookOptions)
        return options.reach

    @classmethod
    def edit_way(cls, options: BaseModel) -> EditWay:
        """A signed ``post.deleted`` then a new ``post.created`` for the receiver."""
        return EditWay.REPLACE
