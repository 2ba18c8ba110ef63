"""``hub config``: every setting, its environment variable, the value in force (secrets only as
set or unset) and what it does, from the settings' own docstrings."""

from __future__ import annotations

import textwrap

import click
from pydantic import SecretStr

from hub.entrypoints.cli._common import handles_errors, settings


@click.command("config")
@handles_errors
def config_show() -> None:
    """Show every HUB_* setting: its value in force and what it does."""
    current = settings()
    for name, info in type(current).model_fields.items():
        value = getattr(current, name)
        if isinstance(value, SecretStr):
            shown = "(set)"
        elif value is None:
            shown = "(unset)"
        elif isinstance(value, tuple):
            shown = ",".join(value) or "(empty)"
        else:
            shown = str(value) if value != "" else "(empty)"
        click.echo(f"HUB_{name.upper()} = {shown}")
        for line in textwrap.wrap(" ".join((info.description or "").split()), 88):
            click.echo(f"    {line}")


COMMANDS = (config_show,)
