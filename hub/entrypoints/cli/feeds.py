"""``hub feeds links|revoke``: private Atom feeds with a personal link per member."""

from __future__ import annotations

import click

from hub.entrypoints.cli._common import handles_errors, open_hub, warn_public_url


@click.group()
def feeds() -> None:
    """Private Atom feeds with a personal link per member."""


@feeds.command("links")
@click.argument("feed")
@handles_errors
def feeds_links(feed: str) -> None:
    """Print each member's personal feed URL."""
    from hub.services.feeds import feed_links

    hub = open_hub()
    links = feed_links(hub, feed)
    for link in links:
        click.echo(f"{link.name:<24} {link.url}")
    if not links:
        click.echo(f"(the list behind feed {feed} has no members)")
    warn_public_url(hub.settings)


@feeds.command("revoke")
@click.argument("feed")
@click.argument("person")
@click.option("--reissue", is_flag=True, help="Give the person a new link at once.")
@handles_errors
def feeds_revoke(feed: str, person: str, reissue: bool) -> None:
    """Revoke a member's feed link (it answers 404 from now on)."""
    from hub.services.feeds import revoke_feed_access

    revoke_feed_access(open_hub(), feed, person, reissue=reissue)
    click.echo("revoked" + (": run `hub feeds links` for the new link" if reissue else ""))


COMMANDS = (feeds,)
