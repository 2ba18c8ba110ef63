"""Setting the hub up and running it: ``init``, ``password``, ``db upgrade``, ``serve``,
``worker``."""

from __future__ import annotations

import sys
from typing import Any

import click

from hub.config import Settings
from hub.entrypoints.cli._common import fail, handles_errors, open_hub, settings
from hub.runtime import Hub

FIRST_TOKEN_SCOPES = ("post", "read")
"""What ``hub init``'s first token may do: narrower than every scope (no approve, no audit)."""


@click.command()
@click.option("--password-stdin", is_flag=True,
              help="Also set the web login password, read from standard input.")
@handles_errors
def init(password_stdin: bool) -> None:
    """Create the database and secret key, check the policy, print a first API token."""
    from hub.bootstrap import Mode, bootstrap
    from hub.services.policy import record_policy
    from hub.services.tokens import create_token, list_tokens
    from hub.store.db import make_engine
    from hub.store.migrate import upgrade

    config = settings()
    config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    config.data_dir.chmod(0o700)   # database, key and media: the owner's eyes only
    config.ensure_secret_key()
    engine = make_engine(config.sqlalchemy_url)
    upgrade(engine)
    engine.dispose()
    runtime = bootstrap(config, Mode.CLI)
    hub = runtime.hub
    policy = hub.policies.current
    record_policy(hub, policy, actor="owner")
    _install_key(hub)
    click.echo(f"database ready: {config.sqlalchemy_url}")
    click.echo(f"policy ok: {len(policy.audiences)} audiences, {len(policy.targets)} targets "
               f"({policy.digest[:12]})")
    if not list_tokens(hub):
        _, secret = create_token(hub, "first", list(FIRST_TOKEN_SCOPES))
        click.echo("\nYour first API token (shown once; store it somewhere safe):\n")
        click.secho(f"  {secret}\n", bold=True)
        click.echo("It can post to any audience and read posts (scopes "
                   f"{', '.join(FIRST_TOKEN_SCOPES)}); it cannot release held posts or read "
                   "the audit. For those, or to limit a phone to some audiences, create "
                   "another: `hub token create --scope approve --audiences friends`.")
    _owner_password(hub, from_stdin=password_stdin, only_if_asked=True)
    runtime.dispose()


def _owner_password(hub: Hub, *, from_stdin: bool, only_if_asked: bool = False) -> None:
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


@click.command()
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@handles_errors
def password(password_stdin: bool) -> None:
    """Set (or change) the owner's web login password; logs out every web session."""
    hub = open_hub(require_policy=False)
    _owner_password(hub, from_stdin=password_stdin)
    hub.db.dispose()


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@handles_errors
def db_upgrade() -> None:
    """Apply the Alembic migrations (SQLite or PostgreSQL)."""
    from hub.store.db import make_engine
    from hub.store.migrate import current, upgrade

    config = settings()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.sqlalchemy_url)
    upgrade(engine)
    click.echo(f"schema at revision {current(engine)}")
    engine.dispose()
    if config.load_secret_key() is not None:
        from hub.bootstrap import Mode, bootstrap

        runtime = bootstrap(config, Mode.CLI, require_policy=False)
        _install_key(runtime.hub)
        runtime.dispose()


def _install_key(hub: Hub) -> None:
    """Re-encrypt stored credentials under the key in force; name links to hand out again."""
    from hub.services.keys import install_secret_key

    for line in install_secret_key(hub, actor="owner").lines():
        click.echo(line)


@click.command()
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
    config = Settings(**overrides)
    app = create_app(config)
    proxies = ",".join(config.trusted_proxies)   # forwarded headers only from these
    uvicorn.run(app, host=config.host, port=config.port, log_level=config.log_level,
                access_log=False, proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)


@click.command()
@click.option("--concurrency", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="Deliveries this worker publishes at once.")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@click.option("--poll-delay", default=1.0, show_default=True, type=click.FloatRange(0.01, 30),
              help="Longest sleep between looks at the queue: a worker is woken when a job "
                   "is queued and when a deferred one falls due, so this only bounds a lost "
                   "wake-up.")
@click.option("--check", is_flag=True,
              help="Only check: exit 0 if a worker on this host has a current heartbeat.")
@handles_errors
def worker(concurrency: int, burst: bool, poll_delay: float, check: bool) -> None:
    """Publish deliveries from Redis (distributed mode); run as many as you like."""
    from hub.entrypoints.arq_worker import run_worker

    config = settings()
    if not config.distributed:
        fail("`hub worker` needs HUB_REDIS_URL (and HUB_DATABASE_URL=postgresql://…); "
             "without Redis, `hub serve` runs the workers itself")
    if check:
        from hub.dispatch.queue import heartbeat_here

        sys.exit(0 if heartbeat_here(config.redis_url) else 1)
    if config.is_sqlite:
        click.secho("warning: workers share a SQLite file; use PostgreSQL when workers run "
                    "on other machines or containers", fg="yellow", err=True)
    sys.exit(run_worker(config, concurrency=concurrency, burst=burst, poll_delay=poll_delay))


COMMANDS = (init, password, db, serve, worker)
