"""The ``hub`` command line. Every command builds Settings once and calls the services."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx

from hub.config import Settings
from hub.errors import HubError, PolicyFileInvalid

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 1) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def handles_errors(fn: F) -> F:
    """Turn hub errors into a readable message and a non-zero exit (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HubError as exc:
            _fail(exc.message)
        except ValueError as exc:   # settings validation
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    return Settings()


def _hub(*, require_policy: bool = True) -> Any:
    from hub.bootstrap import build_hub

    hub = build_hub(_settings())
    if require_policy:
        hub.policies.current  # noqa: B018  (load now: a bad file stops the command, with file:line)
    if hub.settings.distributed:   # wake the arq workers after commit (else the sweeper does)
        from hub.dispatch.queue import enqueue_blocking

        hub.wakers.append(functools.partial(enqueue_blocking, hub))
    return hub


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group()
@click.version_option(package_name="crosspost-hub")
def main() -> None:
    """Write once; publish only where your policy permits; audit who could see what."""


# -- setup --------------------------------------------------------------------------------

@main.command()
@click.option("--password-stdin", is_flag=True,
              help="Also set the web login password, read from standard input.")
@handles_errors
def init(password_stdin: bool) -> None:
    """Create the database and secret key, check the policy, print a first API token."""
    from hub.bootstrap import build_hub
    from hub.services.policy import record_policy
    from hub.services.tokens import SCOPES, create_token
    from hub.store.db import make_engine
    from hub.store.migrate import upgrade

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.ensure_secret_key()
    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)
    engine.dispose()
    hub = build_hub(settings)
    policy = hub.policies.current
    record_policy(hub, policy, actor="owner")
    click.echo(f"database ready: {settings.sqlalchemy_url}")
    click.echo(f"policy ok: {len(policy.audiences)} audiences, {len(policy.targets)} targets "
               f"({policy.digest[:12]})")
    from hub.services.tokens import list_tokens

    if not list_tokens(hub):
        _, secret = create_token(hub, "first", list(SCOPES))
        click.echo("\nYour first API token (shown once; store it somewhere safe):\n")
        click.secho(f"  {secret}\n", bold=True)
    _owner_password(hub, from_stdin=password_stdin, only_if_asked=True)
    hub.db.dispose()


def _owner_password(hub: Any, *, from_stdin: bool, only_if_asked: bool = False) -> None:
    from hub.services.owner import has_password, set_password

    if from_stdin:
        set_password(hub, sys.stdin.readline().rstrip("\r\n"))
        click.echo("web password set (argon2id); every web session was logged out")
    elif not only_if_asked:
        set_password(hub, click.prompt("New web password", hide_input=True,
                                       confirmation_prompt=True))
        click.echo("web password set (argon2id); every web session was logged out")
    elif not has_password(hub):
        from hub.services.owner import setup_code

        click.echo("web login: no password yet. Set it with `hub password`, or open this "
                   "link in a browser on this machine (the code works until a password is "
                   f"set):\n\n  {hub.settings.base_url}/setup?code={setup_code(hub)}\n")


@main.command()
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@handles_errors
def password(password_stdin: bool) -> None:
    """Set (or change) the owner's web login password; logs out every web session."""
    hub = _hub(require_policy=False)
    _owner_password(hub, from_stdin=password_stdin)
    hub.db.dispose()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@handles_errors
def db_upgrade() -> None:
    """Apply the Alembic migrations (SQLite or PostgreSQL)."""
    from hub.store.db import make_engine
    from hub.store.migrate import current, upgrade

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)
    click.echo(f"schema at revision {current(engine)}")
    engine.dispose()


@main.command()
@click.option("--host", default=None, help="Bind address (default HUB_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default HUB_PORT or 8000).")
@handles_errors
def serve(host: str | None, port: int | None) -> None:
    """Run the web app and API (and, without Redis, the workers) until interrupted."""
    import uvicorn

    from web.app import create_app

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = Settings(**overrides)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=False)


@main.command()
@click.option("--concurrency", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="Deliveries this worker publishes at once.")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@click.option("--poll-delay", default=0.1, show_default=True, type=click.FloatRange(0.01, 5),
              help="Seconds between looks at the queue.")
@click.option("--check", is_flag=True,
              help="Only check: exit 0 if a worker on this host has a current heartbeat.")
@handles_errors
def worker(concurrency: int, burst: bool, poll_delay: float, check: bool) -> None:
    """Publish deliveries from Redis (distributed mode); run as many as you like."""
    from hub.dispatch.arq_worker import run_worker
    from hub.logging import configure_logging

    settings = _settings()
    if not settings.distributed:
        _fail("`hub worker` needs HUB_REDIS_URL (and HUB_DATABASE_URL=postgresql://…); "
              "without Redis, `hub serve` runs the workers itself")
    if check:
        from hub.dispatch.queue import heartbeat_here

        sys.exit(0 if heartbeat_here(settings.redis_url) else 1)
    if settings.is_sqlite:
        click.secho("warning: workers share a SQLite file; use PostgreSQL when workers run "
                    "on other machines or containers", fg="yellow", err=True)
    configure_logging(settings.log_level)
    sys.exit(run_worker(settings, concurrency=concurrency, burst=burst, poll_delay=poll_delay))


# -- tokens -------------------------------------------------------------------------------

@main.group()
def token() -> None:
    """API tokens (stored hashed, shown once)."""


@token.command("create")
@click.option("--name", default="token", help="A name you will recognise (e.g. phone).")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="post, read, audit or approve; repeat or separate with commas.")
@click.option("--audiences", default=None,
              help="Comma-separated audiences this token may post to (default: any).")
@handles_errors
def token_create(name: str, scopes: tuple[str, ...], audiences: str | None) -> None:
    """Create a token and print it once."""
    from hub.services.tokens import create_token

    scope_list = [s.strip() for item in scopes for s in item.split(",") if s.strip()]
    aud = [a.strip() for a in audiences.split(",") if a.strip()] if audiences else None
    row, secret = create_token(_hub(), name, scope_list, aud)
    click.echo(f"token {row.id} ({row.name}): scopes {', '.join(row.scopes)}; audiences "
               f"{', '.join(row.audiences) if row.audiences is not None else 'any'}")
    click.echo("Shown once; store it now:")
    click.secho(secret, bold=True)


@token.command("list")
@handles_errors
def token_list() -> None:
    """Tokens (never their secrets)."""
    from hub.services.tokens import list_tokens

    for t in list_tokens(_hub(require_policy=False)):
        state = f"revoked {t.revoked:%Y-%m-%d}" if t.revoked else "active"
        click.echo(f"{t.id}  {t.name:<16} {','.join(t.scopes):<24} "
                   f"{','.join(t.audiences) if t.audiences is not None else 'any':<20} {state}")


@token.command("revoke")
@click.argument("ref")
@handles_errors
def token_revoke(ref: str) -> None:
    """Revoke a token by id or name."""
    from hub.services.tokens import revoke_token

    row = revoke_token(_hub(require_policy=False), ref)
    click.echo(f"revoked {row.id} ({row.name})")


# -- posts --------------------------------------------------------------------------------

def _parse_when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise HubError(f"--schedule {value!r} is not an ISO date-time like "
                       "2026-12-01T09:00:00+01:00") from None


def _print_post(view: Any) -> None:
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


@main.command()
@click.argument("text")
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
def post(text: str, audiences: tuple[str, ...], tags: tuple[str, ...],
         content_warning: str | None, language: str | None, schedule: str | None,
         images: tuple[str, ...], alts: tuple[str, ...], as_json: bool) -> None:
    """Write a post once; the policy decides where it goes."""
    from hub.media import store_media
    from hub.services.posts import Author, MediaRef, PostInput, submit_post

    hub = _hub()
    media = []
    for n, path in enumerate(images):
        row = store_media(hub, Path(path).read_bytes())
        media.append(MediaRef(row.sha256, alts[n] if n < len(alts) else ""))
    data = PostInput(
        text=text, audiences=[a for item in audiences for a in item.split(",")],
        tags=[t for item in tags for t in item.split(",")], content_warning=content_warning,
        language=language, schedule_at=_parse_when(schedule), media=media)
    view = submit_post(hub, data, Author("owner"))
    if as_json:
        _echo_json(view.as_json())
    else:
        _print_post(view)
        if _running_pid(hub.settings) is None:
            click.echo("(no running hub found: deliveries go out when `hub serve` runs)")


@main.command()
@click.argument("post_id")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def show(post_id: str, as_json: bool) -> None:
    """A post's decisions and deliveries."""
    from hub.services.posts import get_post

    view = get_post(_hub(require_policy=False), post_id)
    _echo_json(view.as_json()) if as_json else _print_post(view)


@main.command()
@click.argument("post_id")
@handles_errors
def approve(post_id: str) -> None:
    """Release a post's held deliveries (re-checked against the policy when sent)."""
    from hub.services.posts import approve as approve_post

    _print_post(approve_post(_hub(), post_id))


@main.command()
@click.argument("delivery_id")
@handles_errors
def retry(delivery_id: str) -> None:
    """Send a failed delivery again."""
    from hub.services.posts import retry as retry_delivery

    _print_post(retry_delivery(_hub(), delivery_id))


# -- people and lists ----------------------------------------------------------------------

@main.group()
def people() -> None:
    """People and their identities."""


@people.command("add")
@click.argument("name")
@click.option("--email", multiple=True)
@click.option("--mastodon", multiple=True, help="@user@instance")
@click.option("--bluesky", multiple=True, help="handle or did:plc:…")
@click.option("--list", "lists", multiple=True, help="Add to this list (repeatable).")
@click.option("--note", default="")
@handles_errors
def people_add(name: str, email: tuple[str, ...], mastodon: tuple[str, ...],
               bluesky: tuple[str, ...], lists: tuple[str, ...], note: str) -> None:
    """Add a person."""
    from hub.services.people import NewPerson, add_person, normalise_identity

    idents = [normalise_identity(k, v) for k, values in
              (("email", email), ("mastodon", mastodon), ("bluesky", bluesky)) for v in values]
    row = add_person(_hub(require_policy=False), NewPerson(name, idents, lists, note))
    click.echo(f"added {row.name} ({row.id})")


@people.command("identity")
@click.argument("person")
@click.argument("identity")
@handles_errors
def people_identity(person: str, identity: str) -> None:
    """Add an identity, e.g. `hub people identity Ana mastodon:@ana@example.social`."""
    from hub.services.people import add_identity

    add_identity(_hub(require_policy=False), person, identity)
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

    hub = _hub(require_policy=False)
    for spec in removals:
        remove_identity(hub, person, spec)
    row = update_person(hub, person, name=name, note=note)
    click.echo(f"updated {row.name} ({row.id})")


@people.command("list")
@handles_errors
def people_list() -> None:
    """Everyone, with identities and lists."""
    from hub.services.people import list_people

    for p, idents, lists in list_people(_hub(require_policy=False)):
        ids = ", ".join(f"{i.kind}:{i.value}" for i in idents) or "no identities"
        click.echo(f"{p.id}  {p.name:<24} {ids}  [{', '.join(lists)}]")


@people.command("remove")
@click.argument("person")
@handles_errors
def people_remove(person: str) -> None:
    """Remove a person (the audit keeps what they could see)."""
    from hub.services.people import remove_person

    click.echo(f"removed {remove_person(_hub(require_policy=False), person)}")


@people.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "vcard"]), default=None,
              help="Default: from the file extension (.csv, .vcf).")
@handles_errors
def people_import(path: str, fmt: str | None) -> None:
    """Import people from CSV (name,email,mastodon,bluesky,lists,note) or vCard. All or
    nothing: a broken row is named and nothing is imported."""
    from hub.services.people import import_people, parse_csv, parse_vcard

    fmt = fmt or ("vcard" if path.lower().endswith((".vcf", ".vcard")) else "csv")
    try:
        data = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise HubError(f"{path} is not UTF-8 text") from None
    people_ = parse_csv(data) if fmt == "csv" else parse_vcard(data)
    n = import_people(_hub(require_policy=False), people_)
    click.echo(f"imported {n} people from {path}")


@main.group(invoke_without_command=True)
@click.pass_context
@handles_errors
def lists(ctx: click.Context) -> None:
    """Lists of people (`hub lists` shows them all)."""
    if ctx.invoked_subcommand is None:
        from hub.services.people import all_lists

        for name, count in all_lists(_hub(require_policy=False)):
            click.echo(f"{name:<20} {count} people")


@lists.command("add")
@click.argument("list_name")
@click.argument("people_", metavar="PERSON...", nargs=-1, required=True)
@handles_errors
def lists_add(list_name: str, people_: tuple[str, ...]) -> None:
    """Add people (by name, id or identity) to a list; creates the list."""
    from hub.services.people import change_lists

    added, _ = change_lists(_hub(require_policy=False), list_name, add=people_)
    click.echo(f"{list_name}: added {len(added)} (already members: {len(people_) - len(added)})")


@lists.command("remove")
@click.argument("list_name")
@click.argument("people_", metavar="PERSON...", nargs=-1, required=True)
@handles_errors
def lists_remove(list_name: str, people_: tuple[str, ...]) -> None:
    """Remove people from a list."""
    from hub.services.people import change_lists

    _, removed = change_lists(_hub(require_policy=False), list_name, remove=people_)
    click.echo(f"{list_name}: removed {len(removed)}")


@lists.command("show")
@click.argument("list_name")
@handles_errors
def lists_show(list_name: str) -> None:
    """Members of a list."""
    from hub.services.people import show_list

    members = show_list(_hub(require_policy=False), list_name)
    for p, idents in members:
        click.echo(f"{p.name:<24} {', '.join(f'{i.kind}:{i.value}' for i in idents)}")
    click.echo(f"({len(members)} members)")


# -- policy -------------------------------------------------------------------------------

@main.group()
def policy() -> None:
    """The policy files in HUB_POLICY_DIR (default ./policies)."""


def _load_policy_only() -> Any:
    import adapters
    from hub.policy.loader import load_policy

    return load_policy(_settings().policy_dir, adapters.TARGET_SPECS)


@policy.command("check")
@handles_errors
def policy_check() -> None:
    """Validate the policy files; errors name the file and line."""
    p = _load_policy_only()
    click.echo(f"ok: {len(p.files)} files, {len(p.audiences)} audiences, {len(p.targets)} "
               f"targets, {len(p.rules)} rules (digest {p.digest[:12]})")
    for warning in p.warnings:
        click.secho(f"warning: {warning}", fg="yellow")


@policy.command("explain")
@click.argument("text")
@click.option("--audience", "audiences", multiple=True, required=True)
@click.option("--tag", "tags", multiple=True)
@click.option("--cw", "content_warning", default=None)
@click.option("--lang", "language", default=None)
@click.option("--author", default="owner")
@handles_errors
def policy_explain(text: str, audiences: tuple[str, ...], tags: tuple[str, ...],
                   content_warning: str | None, language: str | None, author: str) -> None:
    """Every target, allow/deny/hold, which rule and why — without posting."""
    from hub.domain.model import Post, PostId
    from hub.policy.engine import route
    from hub.policy.explain import explain_lines
    from hub.store.repos import people_snapshot

    hub = _hub()
    with hub.db.transaction() as s:
        people_ = people_snapshot(s)
    draft = Post(id=PostId("draft"), text=text,
                 audiences=tuple(a for item in audiences for a in item.split(",")),
                 created=hub.now(), tags=tuple(t.lstrip("#").lower() for item in tags
                                               for t in item.split(",")),
                 content_warning=content_warning, language=language, author=author)
    routing = route(draft, hub.policies.current, people_, hub.now())
    for line in explain_lines(routing):
        click.echo(line)


@policy.command("test")
@handles_errors
def policy_test() -> None:
    """Run the example posts in policies/tests/ against the policy."""
    from datetime import UTC

    from hub.policy.examples import load_examples, run_examples

    p = _load_policy_only()
    directory = _settings().policy_dir / "tests"
    examples = load_examples(directory)
    results = run_examples(p, examples, datetime.now(UTC))
    failed = [r for r in results if not r.passed]
    for r in results:
        click.echo(("PASS " if r.passed else "FAIL ") + r.message)
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed or not results:
        sys.exit(1)


def _running_pid(settings: Settings) -> int | None:
    pidfile = settings.data_dir / "hub.pid"
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


@policy.command("reload")
@handles_errors
def policy_reload() -> None:
    """Validate, then tell the running hub to load the policy (it keeps the old one on error)."""
    settings = _settings()
    try:
        p = _load_policy_only()
    except PolicyFileInvalid as exc:
        _fail(f"{exc.message}\nthe running hub keeps its current policy")
    pid = _running_pid(settings)
    if pid is None:
        click.echo(f"policy ok ({p.digest[:12]}); no running hub: it loads the policy at start")
        return
    os.kill(pid, signal.SIGHUP)
    for _ in range(50):
        try:
            health = httpx.get(f"{settings.base_url}/healthz", timeout=2).json()
            if health.get("policy_digest") == p.digest:
                click.echo(f"the running hub (pid {pid}) now uses policy {p.digest[:12]}")
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    _fail(f"sent SIGHUP to pid {pid}, but /healthz does not show policy {p.digest[:12]} yet")


# -- feeds --------------------------------------------------------------------------------

@main.group()
def feeds() -> None:
    """Private Atom feeds with a personal link per member."""


@feeds.command("links")
@click.argument("feed")
@handles_errors
def feeds_links(feed: str) -> None:
    """Print each member's personal feed URL."""
    from hub.services.feeds import feed_links

    links = feed_links(_hub(), feed)
    for link in links:
        click.echo(f"{link.name:<24} {link.url}")
    if not links:
        click.echo(f"(the list behind feed {feed} has no members)")


@feeds.command("revoke")
@click.argument("feed")
@click.argument("person")
@click.option("--reissue", is_flag=True, help="Give the person a new link at once.")
@handles_errors
def feeds_revoke(feed: str, person: str, reissue: bool) -> None:
    """Revoke a member's feed link (it answers 404 from now on)."""
    from hub.services.feeds import revoke_feed_access

    revoke_feed_access(_hub(), feed, person, reissue=reissue)
    click.echo("revoked" + (": run `hub feeds links` for the new link" if reissue else ""))


# -- audit --------------------------------------------------------------------------------

@main.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command("verify")
@handles_errors
def audit_verify() -> None:
    """Check every event's hash and its link to the one before."""
    from hub.services.audit_queries import verify

    result = verify(_hub(require_policy=False))
    if result.ok:
        click.echo(f"ok: {result.events} events, chain intact (head {result.head[:16]})")
    else:
        _fail(f"audit chain broken: {result.problem}")


@audit.command("post")
@click.argument("post_id")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def audit_post(post_id: str, as_json: bool) -> None:
    """Who could see this post, where, and everything that happened to it."""
    from hub.services.audit_queries import post_audit

    data = post_audit(_hub(require_policy=False), post_id)
    if as_json:
        return _echo_json(data)
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

    data = person_audit(_hub(require_policy=False), person, include_public=not no_public)
    if as_json:
        return _echo_json(data)
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
    from hub.services.audit_queries import export

    for chunk in export(_hub(require_policy=False), fmt):
        click.echo(chunk, nl=False)


# -- accounts -----------------------------------------------------------------------------

@main.group()
def accounts() -> None:
    """The owner's accounts on each network (credentials stored encrypted)."""


def _read_secret(prompt: str, *, allow_empty: bool = False) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    value: str = click.prompt(prompt, hide_input=True, default="" if allow_empty else None,
                              show_default=False)
    return value


def _connect(account: str, settings: dict[str, Any], secret: str) -> None:
    import adapters
    from hub.services.accounts import connect_account

    platform = account.split(":", 1)[0]
    row = asyncio.run(connect_account(_hub(require_policy=False), account, settings, secret,
                                      adapters.load_connector(platform)))
    click.echo(f"connected {row.name}")


@accounts.group("add")
def accounts_add() -> None:
    """Connect an account (the secret is read from a prompt or stdin, never argv)."""


@accounts_add.command("email")
@click.argument("name")
@click.option("--host", required=True)
@click.option("--port", default=587, type=int)
@click.option("--security", type=click.Choice(["starttls", "tls", "none"]), default="starttls")
@click.option("--username", default=None)
@click.option("--from", "from_addr", required=True, help="Sender address.")
@click.option("--from-name", default="")
@handles_errors
def accounts_add_email(name: str, host: str, port: int, security: str, username: str | None,
                       from_addr: str, from_name: str) -> None:
    """SMTP account; the password is asked for when --username is given."""
    secret = _read_secret("SMTP password") if username else ""
    _connect(f"email:{name}", {"host": host, "port": port, "security": security,
                               "username": username, "from_addr": from_addr,
                               "from_name": from_name}, secret)


@accounts_add.command("bluesky")
@click.argument("name")
@click.option("--handle", required=True)
@click.option("--service", default="https://bsky.social", help="PDS URL.")
@handles_errors
def accounts_add_bluesky(name: str, handle: str, service: str) -> None:
    """Bluesky with an app password (Settings → App passwords)."""
    secret = _read_secret("App password (xxxx-xxxx-xxxx-xxxx)")
    _connect(f"bluesky:{name}", {"handle": handle, "service": service}, secret)


@accounts_add.command("mastodon")
@click.argument("name")
@click.option("--instance", required=True, help="e.g. https://mastodon.social")
@click.option("--oauth", is_flag=True,
              help="Authorise in the browser instead of pasting an access token.")
@handles_errors
def accounts_add_mastodon(name: str, instance: str, oauth: bool) -> None:
    """Mastodon with an access token (Preferences → Development; scopes write:statuses,
    write:media, read:accounts, read:follows), or --oauth to authorise in a browser."""
    if oauth:
        from adapters.mastodon.oauth import authorization_url, exchange_code, register_app

        app = asyncio.run(register_app(instance))
        click.echo("Open this address, approve the hub, and paste the code it shows:\n")
        click.echo(f"  {authorization_url(app)}\n")
        code = _read_secret("Authorization code")
        secret = asyncio.run(exchange_code(app, code.strip()))
    else:
        secret = _read_secret("Access token")
    _connect(f"mastodon:{name}", {"instance": instance}, secret)


@accounts.command("list")
@handles_errors
def accounts_list() -> None:
    """Connected accounts and their state (never their secrets)."""
    from hub.services.accounts import list_accounts

    for a in list_accounts(_hub(require_policy=False)):
        state = "ok" if a.status == "ok" else f"{a.status}: {a.status_reason}"
        click.echo(f"{a.name:<24} {state}")


if __name__ == "__main__":
    main()
