"""What every command shares: settings built once, the CLI runtime from the composition root,
hub errors turned into a readable message and a non-zero exit (never a traceback)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from hub.config import Settings
from hub.errors import HubError
from hub.runtime import Hub

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def handles_errors(fn: F) -> F:
    """Turn hub errors into a readable message and a non-zero exit (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HubError as exc:
            fail(exc.message)
        except ValueError as exc:   # settings validation
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def warn_public_url(settings: Settings) -> None:
    """On stderr, after links or requests that only work on this machine."""
    if settings.public_url_warning:
        click.echo(f"warning: {settings.public_url_warning}", err=True)


def settings() -> Settings:
    return Settings()


def open_hub(*, require_policy: bool = True) -> Hub:
    """The CLI runtime's hub (it enqueues arq jobs itself when Redis is configured). With
    ``require_policy`` a bad policy file stops the command here, with file:line."""
    from hub.bootstrap import Mode, bootstrap

    hub = bootstrap(settings(), Mode.CLI, require_policy=require_policy).hub
    ctx = click.get_current_context(silent=True)
    if ctx is not None:   # the command's audit events go into the log before it exits
        ctx.call_on_close(lambda: _sequence_quietly(hub))
    return hub


def _sequence_quietly(hub: Hub) -> None:
    """Sequence what this command queued; a running hub's sequencer does it otherwise."""
    from hub.audit.sequencer import sequence_pending

    with contextlib.suppress(Exception):
        sequence_pending(hub.db, wait=True)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def running_pid(settings: Settings) -> int | None:
    """The pid of the `hub serve` that owns this data directory, if it is alive."""
    pidfile = settings.data_dir / "hub.pid"
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def read_secret(prompt: str, *, allow_empty: bool = False) -> str:
    """A secret from the prompt (hidden) or, when not a terminal, one line of stdin."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    value: str = click.prompt(prompt, hide_input=True, default="" if allow_empty else None,
                              show_default=False)
    return value
