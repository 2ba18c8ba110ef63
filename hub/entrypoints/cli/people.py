"""``hub people ...`` and ``hub lists ...``: the owner's people, their identities and lists."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hub.entrypoints.cli._common import handles_errors, open_hub
from hub.entrypoints.cli._progress import progress_bar
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
    from hub.services.people import NewPerson, PersonExists, add_person, normalise_identity

    idents = [normalise_identity(k, v) for k, values in
              (("email", email), ("mastodon", mastodon), ("bluesky", bluesky),
               ("matrix", matrix)) for v in values]
    hub = open_hub(require_policy=False)
    person = NewPerson(name, idents, lists, note)
    try:
        row = add_person(hub, person, allow_same_name=new)
    except PersonExists as exc:
        if not sys.stdin.isatty():
            raise HubError(f"{exc.message} (`hub people identity`, `hub lists add`), or pass "
                           "--new for a second person of that name") from None
        if not click.confirm(f"{exc.message}. Add a second person called {name}?"):
            click.echo("nothing added")
            return
        row = add_person(hub, person)
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
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handles_errors
def people_import(path: str, fmt: str | None, quiet: bool) -> None:
    """Import people from CSV (name,email,mastodon,bluesky,lists,note) or vCard.

    The whole file is checked first: a broken row is named (CSV line N) and nothing is
    imported. Then it goes in in short batches, so a running `hub serve` keeps answering;
    importing the file again updates the people it brought in (nothing is added twice), so
    an import cut short can simply be run again. It is recorded as a job (`hub jobs list`)."""
    from hub.services import jobs
    from hub.services.people_import_job import import_params

    hub = open_hub(require_policy=False)
    with progress_bar(f"importing {Path(path).name}", quiet=quiet) as update:
        row = jobs.run_now(hub, "people-import",
                           import_params(Path(path).resolve(), filename=path, fmt=fmt),
                           on_update=update)
    if row.state != "done":
        raise HubError(row.error or f"the import {row.state}")
    added, updated = row.result["added"], row.result["updated"]
    click.echo(f"imported {added + updated} people from {path} ({added} new, {updated} updated)")


@people.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "vcard"]), default="csv")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file (default: standard output).")
@handles_errors
def people_export(fmt: str, output: str | None) -> None:
    """The whole address book as CSV or vCard; `hub people import` reads it back."""
    from hub.services.people_export import export_people

    data = export_people(open_hub(require_policy=False), fmt)
    if output is None:
        click.echo(data, nl=False)
    else:
        Path(output).write_text(data, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@click.group(invoke_without_command=True)
@click.pass_context
@handles_errors
def lists(ctx: click.Context) -> None:
    """Lists of people (`hub lists` shows them all; rule lists come from the policy)."""
    if ctx.invoked_subcommand is None:
        from hub.services.people_lists import list_infos

        for info in list_infos(open_hub(require_policy=False)):
            kept = f"  rule: {info.rule} ({info.source})" if info.kept_by_rule else ""
            click.echo(f"{info.name:<20} {info.size} people{kept}")


def _change(list_name: str, people_: tuple[str, ...], *, adding: bool) -> None:
    from hub.services.people import change_lists

    hub = open_hub(require_policy=False)
    if adding:
        added, _ = change_lists(hub, list_name, add=people_)
        click.echo(f"{list_name}: added {len(added)} (already members: "
                   f"{len(people_) - len(added)})")
    else:
        _, removed = change_lists(hub, list_name, remove=people_)
        click.echo(f"{list_name}: removed {len(removed)}")


@lists.command("add")
@click.argument("list_name")
@click.argument("people_", metavar="PERSON...", nargs=-1, required=True)
@handles_errors
def lists_add(list_name: str, people_: tuple[str, ...]) -> None:
    """Add people (by name, id or identity) to a list; creates the list."""
    _change(list_name, people_, adding=True)


@lists.command("remove")
@click.argument("list_name")
@click.argument("people_", metavar="PERSON...", nargs=-1, required=True)
@handles_errors
def lists_remove(list_name: str, people_: tuple[str, ...]) -> None:
    """Remove people from a list."""
    _change(list_name, people_, adding=False)


@lists.command("show")
@click.argument("list_name")
@handles_errors
def lists_show(list_name: str) -> None:
    """Members of a list and why each is in: added by hand, or which clauses of its rule."""
    from hub.services.people_lists import explain_list, rule_list

    hub = open_hub(require_policy=False)
    kept = rule_list(hub, list_name)
    if kept is not None:
        click.echo(f"{list_name}: kept by the rule {kept.text!r} ({kept.source})")
    members = explain_list(hub, list_name)
    for m in members:
        click.echo(f"{m.name:<24} {', '.join(m.identities) or 'no identities'}")
        click.echo(f"{'':<24} why: {'; '.join(m.why)}")
    click.echo(f"({len(members)} members)")



@lists.command("define")
@click.argument("list_name")
@click.argument("rule")
@click.option("--description", default="", help="What the list is for, in your words.")
@click.option("--preview", is_flag=True, help="Show who the rule names now; save nothing.")
@handles_errors
def lists_define(list_name: str, rule: str, description: str, preview: bool) -> None:
    """Define or change a list that keeps itself (saved in policies/lists-from-ui.yaml, the
    file the Lists page writes); the whole policy is checked first, then loaded."""
    from hub.services.rule_list_edit import define_rule_list, preview_rule_list, ui_file_place

    hub = open_hub(require_policy=False)
    if preview:
        shown = preview_rule_list(hub, list_name, rule, description)
        click.echo(f"{list_name}: the rule {shown.rule!r} names {shown.count} "
                   f"{'person' if shown.count == 1 else 'people'} now (nothing saved)")
        for m in shown.members:
            click.echo(f"{m.name:<24} why: {'; '.join(m.why)}")
        if shown.count > len(shown.members):
            click.echo(f"… and {shown.count - len(shown.members)} more")
        return
    policy = define_rule_list(hub, list_name, rule, description, expected_digest=None,
                              actor="owner")
    click.echo(f"{list_name}: kept by the rule {policy.lists[list_name].text!r}, saved in "
               f"{ui_file_place(hub)}; policy {policy.digest[:12]} loaded")
    _tell_running_hub()


@lists.command("undefine")
@click.argument("list_name")
@handles_errors
def lists_undefine(list_name: str) -> None:
    """Remove a list that keeps itself from policies/lists-from-ui.yaml (refused while a
    target, a rule or another rule list uses it)."""
    from hub.services.rule_list_edit import ui_file_place, undefine_rule_list

    hub = open_hub(require_policy=False)
    policy = undefine_rule_list(hub, list_name, expected_digest=None, actor="owner")
    click.echo(f"{list_name}: removed from {ui_file_place(hub)}; policy {policy.digest[:12]} "
               "loaded")
    _tell_running_hub()


def _tell_running_hub() -> None:
    """The running hub loads the changed files too (as after `hub policy reload`)."""
    import os
    import signal

    from hub.entrypoints.cli._common import running_pid, settings

    pid = running_pid(settings())
    if pid is not None:
        os.kill(pid, signal.SIGHUP)
        click.echo(f"told the running hub (pid {pid}) to load it")

COMMANDS = (people, lists)
