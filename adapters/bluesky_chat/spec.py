"""Policy options for Bluesky group chats: a group conversation the hub keeps for a hub list.

The one Bluesky audience the network enforces: only the group's members can read its messages
(``recipients``). The group is found by its name among the account's group conversations and
created with the list's members when missing; members are added and removed to follow the list.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from hub.domain.model import IdentityKind, Reach
from hub.ports import EditWay, PlatformFacts

MEMBER_LIMIT = 100   # Bluesky's current total per group (chat.bsky.group.createGroup)


class BlueskyChatOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    list: str
    """The hub list whose members (by Bluesky identity) form the group."""
    name: str | None = Field(default=None, min_length=1, max_length=50)
    """The group's name, how the hub finds it again; defaults to ``<list> (hub)``."""
    member_limit: int = Field(default=MEMBER_LIMIT, ge=2, le=10_000)
    """Members allowed in one group, the owner included (the service's limit)."""


class BlueskyChatSpec:
    platform: ClassVar[str] = "bluesky-chat"
    options: ClassVar[type[BaseModel]] = BlueskyChatOptions
    needs_connection: ClassVar[bool] = True
    facts: ClassVar[PlatformFacts] = PlatformFacts(
        display_name="Bluesky chat", reaches_people="in a Bluesky group chat",
        identity=IdentityKind.BLUESKY,
        recall="a Bluesky chat message cannot be unsent for the other members")

    @classmethod
    def reach(cls, options: BaseModel) -> Reach:
        return Reach.RECIPIENTS

    @classmethod
    def edit_way(cls, options: BaseModel) -> EditWay:
        """Chat messages cannot be edited or unsent: a correction message follows."""
        return EditWay.CORRECT
