"""Policy options for email targets: send to the members of a hub list."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from hub.domain.model import IdentityKind, Reach
from hub.ports import EditWay, PlatformFacts


class EmailOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    list: str
    """The hub list whose members receive the post (their email identities)."""
    mode: Literal["each", "bcc"] = "each"
    """``each``: one message per recipient; ``bcc``: one message, recipients in Bcc."""
    subject: str | None = None
    """Subject line; defaults to the content warning or the first words of the post."""
    on_edit: Literal["nothing", "correct"] = "nothing"
    """When the post is edited after sending: send nothing (mail cannot be recalled), or a
    correction message with the new version to the same recipients."""


class EmailSpec:
    platform: ClassVar[str] = "email"
    options: ClassVar[type[BaseModel]] = EmailOptions
    needs_connection: ClassVar[bool] = True
    facts: ClassVar[PlatformFacts] = PlatformFacts(
        display_name="email", reaches_people="by email", identity=IdentityKind.EMAIL,
        recall="sent email cannot be recalled: it stays in the recipients' inboxes")

    @classmethod
    def reach(cls, options: BaseModel) -> Reach:
        return Reach.RECIPIENTS

    @classmethod
    def edit_way(cls, options: BaseModel) -> EditWay:
        """Sent mail cannot be recalled: nothing, or a correction with ``on_edit: correct``."""
        assert isinstance(options, EmailOptions)
        return EditWay.CORRECT if options.on_edit == "correct" else EditWay.NONE
