"""The ``hub`` command line: one small module per group of commands, each building Settings
once and calling the services through the CLI runtime (``hub.bootstrap``, ``Mode.CLI``)."""

from __future__ import annotations

import click

from hub.entrypoints.cli import (
    accounts,
    audit,
    config,
    contacts,
    edits,
    feeds,
    jobs,
    people,
    policy,
    posts,
    setup,
    tokens,
)


@click.group()
@click.version_option(package_name="crosspost-hub")
def main() -> None:
    """Write once; publish only where your policy permits; audit who could see what."""


for _module in (setup, config, tokens, posts, edits, people, policy, feeds, audit,
                accounts, contacts, jobs):
    for _command in _module.COMMANDS:
        main.add_command(_command)

__all__ = ["main"]
