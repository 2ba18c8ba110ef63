"""``hub people ...`` and ``hub lists ...``: the owner's people, their identities and lists."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hub.entrypoints.cli._common import handles_errors, open_hub
from hub.errors import HubError


@click.group()
def people() -> None:
    """People and their identities."""


@people.command("add")
@click.argument("name")
@click.option("--email", multiple=True)
@click.option("--mastodon", multiple=True, help="@user@instance")
@click.option("--bluesky", multiple=True, help="handle or did:plc:…")
@click.option("--matrix", multiple=True, help="@user:server")
@click.option("--list", "lists", multiple=True, help="Add to this list (repeatable).")
@click.option("--note", default="")
@click.option("--new", "new", is_flag=True,
              help="Add a second person even if someone already has this name.")
@handles_errors
def people_add(name: str, email: tuple[str, ...], mastodon: tuple[str, ...],
               bluesky: tuple[str, ...], matrix: tuple[str, ...], lists: tuple[str, ...],
               note: str, new: bool) -> None:
    """Add a person (someone of the same name: asks, or needs --new)."""
    from hub.services.people import NewPerson, add_person, normalise_identity, people_named

    idents = [normalise_identity(k, v) for k, values in
              (("email", email), ("mastodon", mastodon), ("bluesky", bluesky),
               ("matrix", matrix)) for v in values]
    hub = open_hub(require_policy=False)
    same = people_named(hub, name)
    if same and not new:
        who = ", ".join(f"{p.name} ({p.id})" for p in same)
        if not sys.stdin.isatty():
            raise HubError(f"{who} already exists: add identities or lists to them "
                           "(`hub people identity`, `hub lists add`), or pass --new for a "
                           "second person of that name")
        if not click.confirm(f"{who} already exists. Add a second person called {name}?"):
            click.echo("nothing added")
            return
    row = add_person(hub, NewPerson(name, idents, lists, note))
    click.echo(f"added {row.name} ({row.id})")


@people.command("identity")
@click.argument("person")
@click.argument("identity")
@handles_errors
def people_identity(person: str, identity: str) -> None:
    """Add an identity, e.g. `hub people identity Ana mastodon:@ana@example.social`."""
    from hub.services.people import add_identity

    add_identity(open_hub(require_policy=False), person, identity)
    click.echo("identity added")


@people.command("edit")
@click.argument("person")
@click.option("--name", default=None, help="New name.")
@click.option("--note", default=None, help="New note.")
@click.option("--remove-identity", "removals", multiple=True,
              help="Remove an identity, e.g. email:old@example.org (repeatable).")
@handles_errors
def people_edit(person: str, name: str | None, note: str | None,
                removals: tuple[str, ...]) -> None:
    """Rename a person, change their note, or remove identities."""
    from hub.services.people import remove_identity, update_person

    hub = open_hub(require_policy=False)
    for spec in removals:
        remove_identity(hub, person, spec)
    row = update_person(hub, person, name=name, note=note)
    click.echo(f"updated {row.name} ({row.id})")


@people.command("list")
@handles_errors
def people_list() -> None:
    """Everyone, with identities and lists."""
    from hub.services.people import list_people

    for p, idents, lists in list_people(open_hub(require_policy=False)):
        ids = ", ".join(f"{i.kind}:{i.value}" for i in idents) or "no identities"
        click.echo(f"{p.id}  {p.name:<24} {ids}  [{', '.join(lists)}]")


@people.command("remove")
@click.argument("person")
@handles_errors
def people_remove(person: str) -> None:
    """Remove a person (the audit keeps what they could see)."""
    from hub.services.people import remove_person

    click.echo(f"removed {remove_person(open_hub(require_policy=False), person)}")


@people.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "vcard"]), default=None,
              help="Default: from the file extension (.csv, .vcf), else the content.")
@handles_errors
def people_import(path: str, fmt: str | None) -> None:
    """Import people from CSV (name,email,mastodon,bluesky,lists,note) or vCard. All or
    nothing: a broken row is named and nothing is imported."""
    from hub.services.people_import import parse_people, upsert_people

    try:
        data = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise HubError(f"{path} is not UTF-8 text") from None
    people_ = parse_people(data, filename=path, fmt=fmt)
    added, updated = upsert_people(open_hub(require_policy=False), people_)
    click.echo(f"imported {added + updated} people from {path} ({added} new, {updated} updated)")


@click.group(invoke_without_command=True)
@click.pass_context
@handles_errors
def lists(ctx: click.Context) -> None:
    """Lists of people (`hub lists` shows them all)."""
    if ctx.invoked_subcommand is None:
        from hub.services.people import all_lists

        for name, count in all_lists(open_hub(require_policy=False)):
            click.echo(f"{name:<20} {count} people")


@lists.command("add")
@click.argument("list_name")
@click.argument("people_", metavar="PERSON...", nargs=-1, required=True)
@handles_errors
def lists_add(list_name: str, people_: tuple[str, ...]) -> None:
    """Add people (by name, id or identity) to a list; creates the list."""
    from hub.services.people import change_lists

    added, _ = change_lists(open_hub(require_policy=False), list_name, add=people_)
    click.echo(f"{list_name}: added {len(added)} (already members: {len(people_) - len(added)})")


@lists.command("remove")
@click.argument("list_name")
@click.argument("people_", metavar="PERSON...", nargs=-1, required=True)
@handles_errors
def lists_remove(list_name: str, people_: tuple[str, ...]) -> None:
    """Remove people from a list."""
    from hub.services.people import change_lists

    _, removed = change_lists(open_hub(require_policy=False), list_name, remove=people_)
    click.echo(f"{list_name}: removed {len(removed)}")


@lists.command("show")
@click.argument("list_name")
@handles_errors
def lists_show(list_name: str) -> None:
    """Members of a list."""
    from hub.services.people import show_list

    members = show_list(open_hub(require_policy=False), list_name)
    for p, idents in members:
        click.echo(f"{p.name:<24} {', '.join(f'{i.kind}:{i.value}' for i in idents)}")
    click.echo(f"({len(members)} members)")


COMMANDS = (people, lists)
