"""A progress bar on stderr for commands that run a job (``hub people import``, ``hub audit
export``/``verify``): drawn only on a terminal, so piped output and scripts stay clean."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from hub.services.jobs import OnUpdate


@contextmanager
def progress_bar(description: str, *, quiet: bool = False) -> Iterator[OnUpdate]:
    """Yields the ``on_update(done, total, message)`` a job reports to."""
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), TimeElapsedColumn(), TextColumn("{task.fields[note]}"))
    with Progress(*columns, console=console, disable=quiet or not console.is_terminal,
                  transient=False) as bar:
        task = bar.add_task(description, total=None, note="")

        def update(done: int, total: int | None, message: str) -> None:
            bar.update(task, completed=done, total=total, note=message[:60])

        yield update
