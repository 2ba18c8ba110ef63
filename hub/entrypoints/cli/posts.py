"""``hub post|show|approve|retry``: writing a post once and following its deliveries."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from hub.entrypoints.cli._common import (
    echo_json,
    handles_errors,
    open_hub,
    running_pid,
)
from hub.errors import HubError


def _parse_when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise HubError(f"--schedule {value!r} is not an ISO date-time like "
                       "2026-12-01T09:00:00+01:00") from None


def print_post(view: Any) -> None:
    """A post's decisions (✓ allow, ✗ deny, ⏸ hold, with reasons) and its deliveries."""
    data = view.as_json()
    click.echo(f"post {data['id']}: {data['status']}")
    outside = []
    for d in data["decisions"]:
        if d["rule_ids"] == ["default-deny"]:
            outside.append(d["target"])
            continue
        mark = {"allow": "✓", "deny": "✗", "hold": "⏸"}.get(d["outcome"], "?")
        click.echo(f"  {mark} {d['outcome']:<5} {d['target']:<16} {d['account']:<18} "
                   f"reach {d['reach']:<14} rules {', '.join(d['rule_ids'])}")
        if d["outcome"] != "allow":
            for reason in d["reasons"]:
                click.echo(f"          {reason}")
    if outside:
        click.echo(f"  ✗ not in the requested audiences: {', '.join(outside)}")
    for dl in data["deliveries"]:
        extra = f" — {dl['reason']}" if dl["reason"] else ""
        click.echo(f"  delivery {dl['id']} → {dl['target']}: {dl['status']}{extra}")


_PART_BREAK = "---"


def _parts(text: str) -> list[str]:
    """A file's text, cut into thread parts at lines holding only ``---``."""
    parts: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip() == _PART_BREAK:
            parts.append("\n".join(current))
            current = []
        else:
            current.append(line)
    parts.append("\n".join(current))
    return parts


def _variants(values: tuple[str, ...]) -> dict[str, str | list[str]]:
    """``--variant NETWORK=FILE`` values: each file's text (a thread if it has ``---`` lines)."""
    out: dict[str, str | list[str]] = {}
    for value in values:
        key, sep, path = value.partition("=")
        if not sep or not key.strip() or not path:
            raise HubError(f"--variant {value!r}: give NETWORK=FILE or TARGET=FILE, e.g. "
                           "--variant bluesky=short.txt")
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise HubError(f"--variant {key}: cannot read {path}: {exc}") from None
        parts = _parts(raw)
        out[key.strip()] = parts if len(parts) > 1 else raw
    return out


@click.command()
@click.argument("text", required=False, default="")
@click.option("--thread", "thread", multiple=True,
              help="A part of a thread (repeat, in order) instead of TEXT: a reply chain on "
                   "Mastodon and Bluesky, one text joined by blank lines elsewhere.")
@click.option("--variant", "variants", multiple=True, metavar="NETWORK=FILE",
              help="Text from FILE for one network or target instead of TEXT, e.g. "
                   "bluesky=short.txt (repeatable; lines of only --- cut it into a thread). "
                   "The policy judges each network on the text it gets.")
@click.option("--audience", "audiences", multiple=True, required=True,
              help="Audience from the policy; repeat or separate with commas.")
@click.option("--tag", "tags", multiple=True, help="Tag (repeatable).")
@click.option("--cw", "content_warning", default=None, help="Content warning.")
@click.option("--lang", "language", default=None, help="Language tag, e.g. en or pt-BR.")
@click.option("--schedule", default=None, help="ISO date-time with zone.")
@click.option("--image", "images", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Image file; give alt text with --alt in the same order.")
@click.option("--alt", "alts", multiple=True, help="Alt text for each --image.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handles_errors
def post(text: str, thread: tuple[str, ...], variants: tuple[str, ...],
         audiences: tuple[str, ...], tags: tuple[str, ...],
         content_warning: str | None, language: str | None, schedule: str | None,
         images: tuple[str, ...], alts: tuple[str, ...], as_json: bool) -> None:
    """Write a post once; the policy decides where it goes.

    \b
    Examples:
      hub post "See you at 8" --audience friends
      hub post "A long text …" --audience public --variant bluesky=short.txt
      hub post --thread "Part one" --thread "Part two" --audience public
    """
    from hub.media import store_media
    from hub.services.drafts import Author, MediaRef, PostInput, check_image_count
    from hub.services.posts import submit_post
    from hub.services.send_report import report_from_view

    written = _variants(variants)           # before anything is stored
    hub = open_hub()
    check_image_count(len(images))          # before storing any of them
    media = []
    for n, path in enumerate(images):
        row = store_media(hub, Path(path).read_bytes())
        media.append(MediaRef(row.sha256, alts[n] if n < len(alts) else ""))
    data = PostInput(text=text, audiences=audiences, tags=tags, content_warning=content_warning,
                     language=language, schedule_at=_parse_when(schedule), media=media,
                     thread=thread, variants=written)
    view = submit_post(hub, data, Author("owner"))
    report = report_from_view(view)
    if as_json:
        echo_json({**view.as_json(), **report.as_json()})
    else:
        print_post(view)
        for warning in report.warnings:
            click.echo(f"  ! {warning}")
        click.echo(report.summary)
        if report.deliverable and running_pid(hub.settings) is None:
            click.echo("(no running hub found: deliveries go out when `hub serve` runs)")
    if not report.deliverable:
        raise SystemExit(1)


@click.command()
@click.argument("post_id")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def show(post_id: str, as_json: bool) -> None:
    """A post's decisions and deliveries."""
    from hub.services.posts import get_post

    view = get_post(open_hub(require_policy=False), post_id)
    echo_json(view.as_json()) if as_json else print_post(view)


@click.command()
@click.argument("post_id")
@handles_errors
def approve(post_id: str) -> None:
    """Release a post's held deliveries (re-checked against the policy when sent)."""
    from hub.services.posts import approve as approve_post

    print_post(approve_post(open_hub(), post_id))


@click.command()
@click.argument("delivery_id")
@handles_errors
def retry(delivery_id: str) -> None:
    """Send a failed delivery again."""
    from hub.services.posts import retry as retry_delivery

    print_post(retry_delivery(open_hub(), delivery_id))


COMMANDS = (post, show, approve, retry)
