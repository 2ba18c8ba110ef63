"""``hub contacts ...``: sync followers and follows from connected accounts, and read them."""

from __future__ import annotations

import click

from hub.entrypoints.cli._common import echo_json, handles_errors, open_hub


@click.group()
def contacts() -> None:
    """Your connections on the networks: who follows you and whom you follow."""


@contacts.command("sync")
@click.argument("account", required=False)
@handles_errors
def contacts_sync(account: str | None) -> None:
    """Sync followers and follows of ACCOUNT (default: every connected account that can).

    Runs as a background job (its progress is on the Contacts page too). A sync stopped by a
    crash or a long rate limit resumes where it was on the next run."""
    import adapters
    from hub.bootstrap import contact_reader
    from hub.entrypoints.cli._progress import progress_bar
    from hub.errors import Conflict, HubError
    from hub.services import jobs
    from hub.services.contacts_job import KIND
    from hub.services.contacts_schedule import syncable_accounts, syncing_elsewhere

    hub = open_hub(require_policy=False)
    names = [account] if account else syncable_accounts(hub, adapters.CONTACT_READERS)
    if not names:
        click.echo("no connected account to sync contacts from")
        return
    busy = syncing_elsewhere(hub)
    shown = [""]

    def show(done: int, total: int | None, message: str) -> None:
        if message and message != shown[0] and not message.startswith(("started", "waiting")):
            shown[0] = message
            click.echo(message)

    failed = []
    for name in names:
        if name in busy:
            raise Conflict(f"{name} is already syncing (see the Contacts page); wait for it")
        with progress_bar(f"sync {name}") as bar:
            def update(done: int, total: int | None, message: str) -> None:
                bar(done, total, message)
                show(done, total, message)

            job = jobs.run_now(hub, KIND, {"account": name}, on_update=update,
                               services={"contact_reader": lambda a: contact_reader(hub, a)})
        if job.state != "done":
            failed.append(f"{name}: {job.error or job.state}")
    if failed:
        raise HubError("; ".join(failed))


@contacts.command("list")
@click.option("--account", default=None, help="Only this account's relationships.")
@click.option("--lost", is_flag=True, help="Followers who stopped following.")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def contacts_list(account: str | None, lost: bool, as_json: bool) -> None:
    """Relationships per account: follows me / I follow / mutual, and since when."""
    from hub.services.contacts import direction_of, relationships

    rows = relationships(open_hub(require_policy=False), account, lost=lost)
    if as_json:
        echo_json([{"account": r.account, "kind": r.kind, "address": r.address,
                    "display_name": r.display_name, "direction": direction_of(r),
                    "follows_me_since": r.follows_me_since, "i_follow_since": r.i_follow_since,
                    "follower_lost": r.follower_lost} for r in rows])
        return
    for r in rows:
        since = r.follower_lost if lost else (r.follows_me_since or r.i_follow_since)
        label = "left" if lost else direction_of(r)
        when = f"{since:%Y-%m-%d}" if since else "-"
        click.echo(f"{r.account}\t{r.address}\t{label}\t{when}\t{r.display_name}")


@contacts.command("status")
@handles_errors
def contacts_status() -> None:
    """Where each account's last or current sync stands."""
    from hub.services.contacts import sync_states

    for s in sync_states(open_hub(require_policy=False)):
        extra = f" until {s.retry_after:%H:%M:%S}" if s.status == "paused" and s.retry_after \
            else ""
        click.echo(f"{s.account}\t{s.direction}\t{s.status}{extra}\t{s.seen} seen, "
                   f"{s.pages} pages, {s.new} new, {s.lost} gone"
                   + (f"\t{s.error}" if s.error else ""))


@contacts.command("inbox")
@handles_errors
def contacts_inbox() -> None:
    """People to sort: synced identities nobody in the address book holds, with suggestions."""
    from hub.services.contacts_inbox import inbox

    box = inbox(open_hub(require_policy=False))
    if not box:
        click.echo("nobody to sort: every synced identity is filed or ignored")
    for u in box:
        handle = f" (@{u.handle})" if u.handle else ""
        click.echo(f"{u.kind}:{u.address}{handle}\t{u.display_name}\t{'; '.join(u.relations)}")
        for s in u.suggestions:
            click.echo(f"    maybe {s.name} ({s.person_id}): {s.reason}")


@contacts.command("ignore")
@click.argument("identity")
@handles_errors
def contacts_ignore(identity: str) -> None:
    """Stop offering IDENTITY (kind:address) in the inbox (its relationships still sync)."""
    from hub.services.contacts_sort import ignore

    stored = ignore(open_hub(require_policy=False), identity)
    click.echo(f"ignoring {stored}; `hub contacts unignore {stored}` offers it again")


@contacts.command("unignore")
@click.argument("identity")
@handles_errors
def contacts_unignore(identity: str) -> None:
    """Offer an ignored IDENTITY in the inbox again."""
    from hub.services.contacts_sort import unignore

    stored = unignore(open_hub(require_policy=False), identity)
    click.echo(f"{stored} is back in the inbox")


@contacts.command("merge")
@click.argument("into")
@click.argument("other")
@handles_errors
def contacts_merge(into: str, other: str) -> None:
    """Merge person OTHER into INTO (id, name or identity): identities, lists and note move,
    OTHER is removed. What either could see at send time stays recorded as it was."""
    from hub.services.contacts_sort import merge

    kept = merge(open_hub(require_policy=False), into, other)
    click.echo(f"merged {other} into {kept.name} ({kept.id})")


@contacts.command("split")
@click.argument("person")
@click.argument("identities", nargs=-1, required=True)
@click.option("--name", required=True, help="Name of the new person.")
@handles_errors
def contacts_split(person: str, identities: tuple[str, ...], name: str) -> None:
    """Move IDENTITIES (kind:value) of PERSON to a new person called --name."""
    from hub.services.contacts_sort import split

    new = split(open_hub(require_policy=False), person, identities, name)
    click.echo(f"split {len(identities)} identities off {person} into {new.name} ({new.id})")


@contacts.command("accept")
@click.argument("identity")
@click.option("--to", "person", default=None, help="Add it to this person (id, name, identity).")
@click.option("--name", default=None, help="Name of the new person (default: display name).")
@handles_errors
def contacts_accept(identity: str, person: str | None, name: str | None) -> None:
    """File an identity from the inbox (kind:value) on a person, or as a new one."""
    from hub.services.contacts_inbox import accept, split_identity

    kind, address = split_identity(identity)
    who = accept(open_hub(require_policy=False), kind, address, name=name, person=person)
    click.echo(f"{identity} filed on {who}")


COMMANDS = [contacts]
