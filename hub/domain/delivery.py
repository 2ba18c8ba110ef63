"""A delivery's lifecycle as types: its states, what one attempt can end in, and the
``Delivery`` value the store hands to services (no I/O, no clock)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hub.domain.model import DeliveryId, PostId, Reach


class DeliveryStatus(StrEnum):
    """Where a delivery stands. ``pending`` → ``in_flight`` (a worker's lease) → a final
    state; ``held`` waits for an approver; ``deleted`` follows ``published``."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    HELD = "held"
    PUBLISHED = "published"
    FAILED = "failed"
    DENIED = "denied"           # stopped by the policy at publish time
    REJECTED = "rejected"       # the target's adapter could not carry the post at submit
    CANCELLED = "cancelled"     # the post was deleted before this went out
    DELETED = "deleted"         # published, then removed from the network

    @property
    def final(self) -> bool:
        """Nothing moves it on without the owner (retry, approve, delete)."""
        return self in FINAL


FINAL = frozenset({DeliveryStatus.PUBLISHED, DeliveryStatus.FAILED, DeliveryStatus.DENIED,
                   DeliveryStatus.REJECTED, DeliveryStatus.CANCELLED})
"""States a worker never leaves again (``deleted`` is the owner's later step)."""


class AttemptOutcome(StrEnum):
    """What one run of the delivery job did (also the metrics' ``outcome`` label)."""

    PUBLISHED = "published"
    RETRY = "retry"
    FAILED = "failed"
    DENIED = "denied"
    HELD = "held"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"         # not due, already done, or another worker holds it


@dataclass(frozen=True)
class Delivery:
    """One (post, target) in the outbox, as the store reads it."""

    id: DeliveryId
    post_id: PostId
    target: str
    account: str
    platform: str
    reach: Reach
    key: str
    status: DeliveryStatus
    due_at: datetime
    attempts: int
    last_error: str = ""
    remote_id: str | None = None
    remote_url: str | None = None
    approved: datetime | None = None
    approved_by: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None


class CopyEditStatus(StrEnum):
    """Where one edit of one copy stands (``copy_edit.status``). ``pending`` → ``in_flight``
    (a worker's lease) → ``done`` or ``failed``; ``held`` waits for an approver; a newer edit
    makes an unfinished one ``superseded``."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    HELD = "held"
    DONE = "done"
    FAILED = "failed"
    SUPERSEDED = "superseded"


UNFINISHED_EDIT = frozenset({CopyEditStatus.PENDING, CopyEditStatus.HELD,
                             CopyEditStatus.FAILED})
"""Edit states a newer edit of the same post supersedes."""


class EditAction(StrEnum):
    """What an edit does to one copy (``copy_edit.action``; the preview's words for each are in
    ``hub.services.edit_plan``)."""

    EDIT = "edit"               # the network's own edit (Mastodon, Matrix m.replace)
    REPLACE = "replace"         # delete and publish again (Bluesky)
    IN_PLACE = "in-place"       # the hub serves it (feeds): the entry shows the new version
    CORRECT = "correct"         # a correction message to the same recipients (email)
    UNCHANGED = "unchanged"     # cannot be changed; nothing is sent
    RETRACT = "retract"         # the policy now denies it here: the copy is deleted
    HOLD = "hold"               # newly held: waits for approval, the old copy untouched
    APPROVED = "approved"       # a held edit released: the network's way, re-checked
    UPDATE = "update"           # not sent yet: goes out with the new version
    CANCEL = "cancel"           # not sent yet, now denied: will not go out
    WAIT = "wait"               # not sent yet, now needs approval
    NONE = "none"               # nothing to change


NETWORK_EDITS = frozenset({EditAction.EDIT, EditAction.REPLACE, EditAction.CORRECT,
                           EditAction.RETRACT})
"""Actions that change a copy on its network (a worker runs them)."""
