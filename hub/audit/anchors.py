"""Anchors: signed checkpoints published somewhere the hub's database cannot reach.

A checkpoint kept only in the hub's own database proves little against someone who can edit
that database: they could cut off the newest events and the checkpoint with them. Published to
a directory on another disk, emailed to the owner, or posted publicly, it cannot be taken back,
so ``hub audit verify`` can later prove the log still holds everything it held then.

``AnchorSink`` is the port; ``DirectorySink`` is here, the email sink is in ``adapters``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar, Protocol

from hub.errors import HubError


class AnchorSink(Protocol):
    """Somewhere to publish checkpoints. ``notes`` reads back what it can (a directory can;
    an email cannot, so it returns nothing and the owner passes the mail to verify)."""

    kind: ClassVar[str]

    @property
    def name(self) -> str:
        """``<kind>:<where>``, recorded with each anchor."""
        ...

    def publish(self, note: str, *, tree_size: int, root_hex: str) -> str:
        """Publish one signed checkpoint; return where it went (a path, a Message-ID)."""
        ...

    def notes(self) -> list[str]:
        """Every checkpoint this sink holds and can read back."""
        ...


class AnchorError(HubError):
    """A sink refused or failed to take a checkpoint."""


@dataclass(frozen=True)
class DirectorySink:
    """Checkpoint files in a directory the owner chooses (mount a backup disk, sync it away).
    One file per checkpoint, never overwritten, so two different checkpoints of the same size
    (a fork) both stay there as evidence."""

    kind: ClassVar[str] = "directory"
    path: Path

    @property
    def name(self) -> str:
        return f"directory:{self.path}"

    def publish(self, note: str, *, tree_size: int, root_hex: str) -> str:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            target = self.path / f"checkpoint-{tree_size:012d}-{root_hex[:16]}.txt"
            if not target.exists():
                tmp = target.with_suffix(".tmp")
                tmp.write_text(note)
                os.replace(tmp, target)
        except OSError as exc:
            raise AnchorError(f"could not write the checkpoint to {self.path}: "
                              f"{exc.strerror or exc}") from exc
        return str(target)

    def notes(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return [p.read_text() for p in sorted(self.path.glob("checkpoint-*.txt"))]


def due(*, last_anchor: datetime | None, last_size: int, size: int, now: datetime,
        every: timedelta) -> bool:
    """Anchor when the log grew since the last anchor and ``every`` has passed."""
    if size == 0 or size <= last_size:
        return False
    return last_anchor is None or now - last_anchor >= every


def describe(sinks: Sequence[AnchorSink]) -> str:
    return ", ".join(s.name for s in sinks) or "none configured"
