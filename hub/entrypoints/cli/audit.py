"""``hub audit verify|post|person|export``: the append-only, hash-chained audit log."""

from __future__ import annotations

import click

from hub.entrypoints.cli._common import echo_json, fail, handles_errors, open_hub


@click.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command("verify")
@handles_errors
def audit_verify() -> None:
    """Check every event's hash and its link to the one before."""
    from hub.services.audit_queries import verify

    result = verify(open_hub(require_policy=False))
    if result.ok:
        click.echo(f"ok: {result.events} events, chain intact (head {result.head[:16]})")
    else:
        fail(f"audit chain broken: {result.problem}")


@audit.command("post")
@click.argument("post_id")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def audit_post(post_id: str, as_json: bool) -> None:
    """Who could see this post, where, and everything that happened to it."""
    from hub.services.audit_queries import post_audit

    data = post_audit(open_hub(require_policy=False), post_id)
    if as_json:
        return echo_json(data)
    click.echo(f"post {post_id}")
    for c in data["could_see"]:
        click.echo(f"  {c['target']} ({c['account']}, reach {c['reach']}) at {c['when']}: "
                   f"{c['who']}")
        for m in c["people"]:
            click.echo(f"      {m['name'] or '(not in your people)'} {m['identity']}"
                       + (f" via {m['via_list']}" if m["via_list"] else ""))
    for f in data["fetched_by"]:
        click.echo(f"  fetched by {f['name']} through feed {f['feed']} at {f['when']}")
    click.echo("events:")
    for e in data["events"]:
        click.echo(f"  #{e['seq']} {e['created']} {e['name']} by {e['actor']}")


@audit.command("person")
@click.argument("person")
@click.option("--no-public", is_flag=True, help="Leave out posts anyone could see.")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def audit_person(person: str, no_public: bool, as_json: bool) -> None:
    """Every post this person could see: where, when, through which list."""
    from hub.services.audit_queries import person_audit

    data = person_audit(open_hub(require_policy=False), person, include_public=not no_public)
    if as_json:
        return echo_json(data)
    click.echo(f"{data['person']['name']} ({', '.join(data['person']['identities'])})")
    for p in data["posts"]:
        click.echo(f"  {p['when']}  post {p['post_id']} on {p['target']} ({p['reach']}) "
                   f"through {p['through']}")
    for f in data["feed_fetches"]:
        click.echo(f"  {f['when']}  fetched feed {f['feed']} ({len(f['post_ids'])} posts)")
    click.echo(f"({len(data['posts'])} posts)")


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@handles_errors
def audit_export(fmt: str) -> None:
    """The whole log to stdout."""
    from hub.services.audit_export import export

    for chunk in export(open_hub(require_policy=False), fmt):
        click.echo(chunk, nl=False)


COMMANDS = (audit,)
