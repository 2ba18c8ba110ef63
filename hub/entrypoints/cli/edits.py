"""``hub edit|delete|edits-approve|cancel``: change a post after writing it. An edit first shows
what it would do to every copy (retractions first), then applies it once confirmed."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from hub.entrypoints.cli._common import echo_json, fail, handles_errors, open_hub
from hub.entrypoints.cli.posts import _parse_when, _variants


def _print_plan(plan: Any) -> None:
    data = plan.as_json()
    click.echo(f"edit of post {data['post_id']} → version {data['version']} "
               f"(changes {', '.join(data['changed'])})")
    if data["retracts"]:
        click.echo(f"  ! the policy now denies it on {', '.join(data['retracts'])}: "
                   "those copies will be DELETED")
    for c in data["copies"]:
        variant = c["carries"]["variant"]
        text = f"the {variant} variant" if variant else "the main text"
        click.echo(f"  {c['target']:<16} {c['status']:<10} {c['action']:<9} {c['says']} "
                   f"[{text}]")
    for note in data["notes"]:
        click.echo(f"  note: {note}")


def _print_copies(copies: list[dict[str, Any]]) -> None:
    busy = False
    for c in copies:
        edit = c["edit"] or {}
        state = edit.get("status")
        busy = busy or state in ("pending", "in_flight")
        extra = f" — {edit['reason']}" if edit.get("reason") else ""
        mark = f" [{state}]" if state in ("pending", "in_flight", "held", "failed") else ""
        click.echo(f"  {c['target']:<16} {c['status']:<10} carries v{c['carries_version']} "
                   f"of v{c['latest_version']}{mark}{extra}")
    if busy:
        click.echo("The hub's workers change the pending copies (`hub edit-status POST` "
                   "shows their progress; with no running hub they wait for `hub serve`).")


@click.command()
@click.argument("post_id")
@click.option("--text", default=None, help="The new text.")
@click.option("--cw", "content_warning", default=None, help='Content warning ("" removes it).')
@click.option("--lang", "language", default=None)
@click.option("--tag", "tags", multiple=True, help="The new tags (repeat; replaces all).")
@click.option("--no-tags", is_flag=True, help="Remove every tag.")
@click.option("--alt", "alts", multiple=True, metavar="SHA256=TEXT",
              help="New alt text for one of the post's images.")
@click.option("--schedule", default=None, help="A new time (only before anything went out).")
@click.option("--variant", "variants", multiple=True, metavar="NETWORK=FILE",
              help="A network's (or target's) own text, read from FILE, added or replaced "
                   "(repeat); the policy judges that copy on it. As `hub post --variant`.")
@click.option("--no-variant", "dropped", multiple=True, metavar="NETWORK",
              help="Remove a network's own text: it then gets the main text (repeat).")
@click.option("--yes", is_flag=True, help="Apply without asking (after printing the preview).")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def edit(post_id: str, text: str | None, content_warning: str | None, language: str | None,
         tags: tuple[str, ...], no_tags: bool, alts: tuple[str, ...], schedule: str | None,
         variants: tuple[str, ...], dropped: tuple[str, ...], yes: bool, as_json: bool) -> None:
    """Edit a post: every copy the policy still allows gets it, copies it now denies are
    retracted, held ones wait for approval. Each copy is judged on, and gets, the text it
    would carry (its network's variant, else the main text); a copy whose own text does not
    change is left as it is.

    \b
      hub edit POST --text "the fixed main text"
      hub edit POST --variant bluesky=short.txt
      hub edit POST --no-variant bluesky"""
    from hub.services.drafts import Author
    from hub.services.edits import EditInput, edit_post, plan_edit

    pairs = {}
    for item in alts:
        sha, sep, alt = item.partition("=")
        if not sep:
            fail(f"--alt {item!r}: write SHA256=TEXT")
        pairs[sha.strip()] = alt
    changed: dict[str, str | None] = {key.strip(): None for key in dropped}
    for key, value in _variants(variants).items():
        if not isinstance(value, str):
            fail(f"--variant {key}: the file has parts (lines of ---): an edit cannot make "
                 "a thread; write one text")
        if key in changed:
            fail(f"--variant {key} and --no-variant {key}: choose one")
        changed[key] = value
    change = EditInput(text=text, content_warning=content_warning, language=language,
                       tags=[] if no_tags else (list(tags) if tags else None), alts=pairs,
                       schedule_at=_parse_when(schedule), variants=changed or None)
    hub = open_hub()
    plan = plan_edit(hub, post_id, change, Author())
    if as_json and not yes:
        echo_json({**plan.as_json(), "applied": False})
        return
    if not as_json:
        _print_plan(plan)
    if not yes and not click.confirm("Apply this edit?", default=False):
        click.echo("Nothing changed.")
        return
    result = asyncio.run(edit_post(hub, post_id, change, Author(), confirm=plan.digest))
    if as_json:
        echo_json(result.as_json())
    else:
        _print_copies(result.copies)


@click.command()
@click.argument("post_id")
@click.option("--yes", is_flag=True, help="Do not ask.")
@handles_errors
def delete(post_id: str, yes: bool) -> None:
    """Delete a post everywhere the networks allow; say which copies are still live."""
    from hub.services.deletion import delete_everywhere

    if not yes and not click.confirm(f"Delete post {post_id} everywhere?", default=False):
        click.echo("Nothing changed.")
        return
    outcomes = asyncio.run(delete_everywhere(open_hub(), post_id))
    for o in outcomes:
        click.echo(f"  {o.target:<16} {'deleted' if o.removed else 'STILL LIVE: ' + o.reason}")
    live = [o.target for o in outcomes if not o.removed]
    click.echo("Deleted everywhere." if not live else
               f"Deleted; still live: {', '.join(live)}")


@click.command("edits-approve")
@click.argument("post_id")
@handles_errors
def edits_approve(post_id: str) -> None:
    """Release a post's held edits (checked against the policy again as they go)."""
    from hub.services.edits import approve_edits

    _print_copies(asyncio.run(approve_edits(open_hub(), post_id)))


@click.command()
@click.argument("delivery_id")
@handles_errors
def cancel(delivery_id: str) -> None:
    """Cancel one target of a scheduled or held post before it goes out."""
    from hub.entrypoints.cli.posts import print_post
    from hub.services.cancel import cancel_delivery
    from hub.services.drafts import Author

    print_post(cancel_delivery(open_hub(), delivery_id, Author()))


@click.command("edit-status")
@click.argument("post_id")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def edit_status(post_id: str, as_json: bool) -> None:
    """Which version each copy of a post carries, and how its latest edit stands."""
    from hub.services.edits import copy_versions

    copies = copy_versions(open_hub(), post_id)
    if as_json:
        echo_json({"post_id": post_id, "copies": copies})
    else:
        _print_copies(copies)


COMMANDS = (edit, delete, edits_approve, edit_status, cancel)
