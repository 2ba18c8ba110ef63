"""``hub audit …``: the audit log — who could see what, proofs, checkpoints, anchors."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from hub.entrypoints.cli._common import echo_json, fail, handles_errors, open_hub
from hub.entrypoints.cli._progress import progress_bar

HELP = """The audit log: an append-only record of everything the hub did, which answers
"who could see this post?" and "which posts could this person see?".

\b
How you can trust it:
  - Every event carries the hash of the one before it (a chain), so an event
    edited by hand breaks the chain: `hub audit verify` finds it.
  - The events also form a Merkle tree. A CHECKPOINT is a short text, signed
    with the hub's own key, saying "the log had N events and its fingerprint
    was R". `hub audit checkpoint` makes one.
  - A PROOF (`hub audit prove POST`) shows, with a handful of hashes, that one
    record — say "this post went to Ana, Bo and Cy through the friends list" —
    is in the log a checkpoint describes. Anyone can check it offline with the
    single file hub/audit/verifier.py and plain Python: no database needed.
  - An ANCHOR is a checkpoint published outside the hub's database (a directory
    on a backup disk, an email to yourself). The database cannot take it back,
    so `hub audit verify` compares the log with the latest anchors and notices
    events cut off the end, a history rewritten, or two different histories.

\b
Set HUB_AUDIT_ANCHOR_DIR and/or HUB_AUDIT_ANCHOR_EMAIL to anchor every hour
(HUB_AUDIT_ANCHOR_SECONDS) while `hub serve` runs, or run `hub audit anchor`.
HUB_AUDIT_ANCHOR_BLUESKY=bluesky:me (opt-in) also posts each checkpoint publicly
on that Bluesky account, where the relays timestamp it.

\b
Followers-only posts are a lower bound: whoever follows you later can read
them too. `hub serve` re-reads your followers daily (HUB_AUDIT_GROWTH_SECONDS;
now: `hub audit followers`) and records who could see which post since when.
"""


@click.group(help=HELP)
def audit() -> None:
    pass


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{value!r} is not a date or time (YYYY-MM-DD[THH:MM])")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@audit.command("verify")
@click.option("--against", "against", multiple=True, type=click.Path(exists=True,
              dir_okay=False, path_type=Path),
              help="Also check against this saved checkpoint (e.g. from an anchor email).")
@click.option("--quiet", is_flag=True, help="No progress bar on stderr.")
@handles_errors
def audit_verify(against: tuple[Path, ...], quiet: bool) -> None:
    """Check every event, the Merkle tree, and the log against every signed checkpoint:
    the hub's own, the anchors' (a directory reads back), and --against files. Runs as a
    job (`hub jobs list`) with a progress bar on a terminal."""
    from hub.bootstrap import job_services
    from hub.services import jobs

    hub = open_hub(require_policy=False)
    params = {"against": [[str(p), p.read_text()] for p in against]}
    with progress_bar("verifying the audit log", quiet=quiet) as update:
        row = jobs.run_now(hub, "audit-verify", params, on_update=update,
                           services=job_services(hub))
    if row.state != "done":
        fail(row.error or f"the verification {row.state}")
    r = row.result
    heads = (f", matches {r['checkpoints_checked']} signed checkpoint(s)"
             if r["checkpoints_checked"] else "")
    click.echo(f"ok: {r['events']} events, chain intact (head {r['head'][:16]}), Merkle "
               f"root {r['root'][:16]}{heads}")


@audit.command("checkpoint")
@handles_errors
def audit_checkpoint() -> None:
    """Sign a checkpoint of the log as it is now and print it (C2SP tlog-checkpoint)."""
    from hub.services import audit_proofs

    click.echo(audit_proofs.checkpoint(open_hub(require_policy=False)).note, nl=False)


@audit.command("checkpoints")
@handles_errors
def audit_checkpoints() -> None:
    """The latest checkpoints, newest first."""
    from hub.services import audit_proofs

    for cp in audit_proofs.checkpoints(open_hub(require_policy=False)):
        click.echo(f"{cp.created.isoformat()}  {cp.tree_size:>9} events  root {cp.root[:16]}")


@audit.command("key")
@handles_errors
def audit_key() -> None:
    """The verifier key to publish: anyone checks checkpoints and proofs with it."""
    from hub.services import audit_proofs

    click.echo(audit_proofs.verifier_key(open_hub(require_policy=False)))


@audit.command("prove")
@click.argument("ref", metavar="POST|EVENT")
@click.option("--with-audience", is_flag=True,
              help="Include each delivery's audience list (it names everyone who got it).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the proof here instead of stdout.")
@handles_errors
def audit_prove(ref: str, with_audience: bool, output: Path | None) -> None:
    """A proof that a post's who-could-see records (or event number EVENT) are in the log,
    for `python hub/audit/verifier.py FILE --key KEY`."""
    from hub.services import audit_proofs

    text = audit_proofs.dumps(audit_proofs.prove(open_hub(require_policy=False), ref,
                                                 with_audience=with_audience))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}; check it with: python hub/audit/verifier.py {output} "
                   "--key \"$(hub audit key)\"", err=True)


@audit.command("consistency")
@click.argument("old", type=int)
@click.argument("new", type=int, required=False)
@handles_errors
def audit_consistency(old: int, new: int | None) -> None:
    """A proof that the checkpoint of NEW events (default: now) extends the one of OLD
    events: the log only grew."""
    from hub.services import audit_proofs

    click.echo(audit_proofs.dumps(audit_proofs.consistency(open_hub(require_policy=False),
                                                           old, new)), nl=False)


@audit.command("anchor")
@handles_errors
def audit_anchor() -> None:
    """Sign a checkpoint now and publish it to every configured anchor."""
    from hub.bootstrap import anchor_sinks
    from hub.services import audit_proofs

    hub = open_hub(require_policy=False)
    for row in audit_proofs.anchor(hub, anchor_sinks(hub)):
        click.echo(f"anchored {row.tree_size} events: {row.sink} → {row.location}")


@audit.command("followers")
@click.argument("accounts", nargs=-1)
@handles_errors
def audit_followers(accounts: tuple[str, ...]) -> None:
    """Re-read the followers of ACCOUNTS (default: every account with followers-only posts)
    and record who could see those posts since they followed (AudienceGrew events).
    `hub serve` does this every HUB_AUDIT_GROWTH_SECONDS (default daily)."""
    import asyncio

    from hub.bootstrap import contact_reader
    from hub.services.audit_growth import GrowthSchedule

    hub = open_hub(require_policy=False)
    schedule = GrowthSchedule(hub, lambda account: contact_reader(hub, account))
    done = asyncio.run(schedule.run_once(list(accounts) or None))
    if not done:
        click.echo("no account with followers-only posts to follow (or every read failed: "
                   "see the log)")
    for g in done:
        click.echo(f"{g.account}: " + ("rate-limited: paused, the next run resumes" if g.paused
                                        else f"{g.pairs} newly could see ({g.events} events)"))


@audit.command("post")
@click.argument("post_id")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def audit_post(post_id: str, as_json: bool) -> None:
    """Who could see this post, where, and everything that happened to it."""
    from hub.services.audit_post import post_audit

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
        if c["next_cursor"]:
            click.echo(f"      … {c['people_count']} in all (see --json and the API)")
    for f in data["fetched_by"]:
        click.echo(f"  fetched by {f['name']} through feed {f['feed']} at {f['when']}")
    click.echo("events:")
    for e in data["events"]:
        click.echo(f"  #{e['seq']} {e['created']} {e['name']} by {e['actor']}")


@audit.command("person")
@click.argument("person")
@click.option("--no-public", is_flag=True, help="Leave out posts anyone could see.")
@click.option("--since", help="From this date or time (UTC unless a zone is given).")
@click.option("--until", help="Before this date or time.")
@click.option("--account", help="Only this account, e.g. mastodon:main.")
@click.option("--reach", help="Only this reach, e.g. recipients or followers.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--cursor", help="Continue after a page (the next_cursor it printed).")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def audit_person(person: str, no_public: bool, since: str | None, until: str | None,
                 account: str | None, reach: str | None, limit: int, cursor: str | None,
                 as_json: bool) -> None:
    """Every post this person could see, newest first: where, when, through which list."""
    from hub.services.audit_queries import Filters, person_audit

    flt = Filters(since=_when(since), until=_when(until), account=account, reach=reach)
    data = person_audit(open_hub(require_policy=False), person, include_public=not no_public,
                        filters=flt, cursor=cursor, limit=limit)
    if as_json:
        return echo_json(data)
    click.echo(f"{data['person']['name']} ({', '.join(data['person']['identities'])})")
    for p in data["posts"]:
        click.echo(f"  {p['when']}  post {p['post_id']} on {p['target']} ({p['reach']}) "
                   f"through {p['through']}")
    click.echo(f"({data['count']} deliveries to them"
               + (f"; more: --cursor {data['next_cursor']}" if data["next_cursor"] else "")
               + ")")
    if data["public"] is not None:
        click.echo(f"and {data['public']['count']} posts anyone on the web could see")
    for f in data["feed_fetches"]:
        click.echo(f"  {f['when']}  fetched feed {f['feed']} ({len(f['post_ids'])} posts)")


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option("--since", help="From this date or time.")
@click.option("--until", help="Before this date or time.")
@click.option("--post", "post_id", help="Only this post's events.")
@click.option("--quiet", is_flag=True, help="No progress bar on stderr.")
@handles_errors
def audit_export(fmt: str, since: str | None, until: str | None, post_id: str | None,
                 quiet: bool) -> None:
    """The log to stdout, streamed, with who could see each delivery (a progress bar on
    stderr when it is a terminal; recorded as a job, `hub jobs list`)."""
    from hub.services import jobs
    from hub.services.audit_export import ExportFilter
    from hub.services.job_kinds import export_params

    hub = open_hub(require_policy=False)
    params = export_params(fmt, ExportFilter(_when(since), _when(until), post_id))
    with progress_bar("exporting the audit log", quiet=quiet) as update:
        row = jobs.run_now(hub, "audit-export", params, on_update=update,
                           services={"output": sys.stdout})
    sys.stdout.flush()
    if row.state != "done":
        fail(row.error or f"the export {row.state}")


COMMANDS = (audit,)
