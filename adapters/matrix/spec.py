"""Policy options for Matrix targets: an existing room, or a room the hub keeps for a list.

Reach is always ``room-members``: the members when a message is sent (joined and invited; only
joined where history is ``joined``). A room whose history is shared (``shared``/``world_readable``)
also shows it to later members; the audit marks such a snapshot as a lower bound.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.domain.model import IdentityKind, Reach
from hub.ports import EditWay, PlatformFacts

# room ids carry no server name from room version 12 on; aliases always do
ROOM = re.compile(r"^(![^:\s]+(:[A-Za-z0-9.\-]+(:\d+)?)?|#[^:\s]+:[A-Za-z0-9.\-]+(:\d+)?)$")


class MatrixOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    room: str | None = None
    """An existing room, by id (``!abc…``) or alias (``#family:example.org``)."""
    list: str | None = None
    """Or: the hub list whose members the hub invites to a room it keeps for them (created on
    first use, members invited by their Matrix identity and removed when they leave the list)."""
    history: Literal["invited", "joined"] = "invited"
    """For a kept room: who may read a message, fixed when it is sent (Matrix
    ``history_visibility``); never ``shared``, so later members do not see earlier posts.
    ``invited``: members invited before the post can read it once they join; ``joined``:
    only those who had joined when it was sent."""
    alias: str | None = Field(default=None, pattern=r"^[a-z0-9._=\-]{1,64}$")
    """For a kept room: the local part of its alias; defaults to ``hub-<list>``."""

    @model_validator(mode="after")
    def _one_room(self) -> MatrixOptions:
        if bool(self.room) == bool(self.list):
            raise ValueError("give either 'room' (an existing room) or 'list' (a room the hub "
                             "keeps for that list), not both or neither")
        if self.room and not ROOM.match(self.room):
            raise ValueError(f"room {self.room!r} must be a room id (!id) or an alias "
                             f"(#name:server)")
        if self.room and (self.alias or self.history != "invited"):
            raise ValueError("'alias' and 'history' are only used with 'list': the hub does "
                             "not change a room it does not keep")
        return self


class MatrixSpec:
    platform: ClassVar[str] = "matrix"
    options: ClassVar[type[BaseModel]] = MatrixOptions
    needs_connection: ClassVar[bool] = True
    facts: ClassVar[PlatformFacts] = PlatformFacts(
        display_name="Matrix", reaches_people="in the Matrix room",
        identity=IdentityKind.MATRIX)

    @classmethod
    def reach(cls, options: BaseModel) -> Reach:
        return Reach.ROOM_MEMBERS

    @classmethod
    def reach_words(cls, options: BaseModel) -> str:
        """Who could see a message, as the preview says it: what is true of a kept room (its
        history is never shared) and what the hub cannot know of an existing one."""
        assert isinstance(options, MatrixOptions)
        if options.list is None:
            return (f"the members of the Matrix room {options.room} when it is sent — people "
                    "who join later see it too if the room shares its history")
        if options.history == "joined":
            return (f"the members of the hub's Matrix room for {options.list} who have joined "
                    "when it is sent; people who join later never see it")
        return (f"the members of the hub's Matrix room for {options.list}, joined or invited "
                "when it is sent (the invited read it once they join); people invited later "
                "never see it")

    @classmethod
    def edit_way(cls, options: BaseModel) -> EditWay:
        """An ``m.replace`` event: clients show the new text in place of the old, and the
        event keeps its id (images cannot change that way)."""
        return EditWay.NATIVE
