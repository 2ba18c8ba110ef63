"""``hub accounts add|list``: the owner's accounts on each network (credentials encrypted).
Adapters are reached through the composition root (``hub.bootstrap``), never imported here."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from hub.entrypoints.cli._common import fail, handles_errors, open_hub, read_secret
from hub.errors import HubError


@click.group()
def accounts() -> None:
    """The owner's accounts on each network (credentials stored encrypted)."""


def _connect(account: str, settings: dict[str, Any], secret: str) -> None:
    from hub.bootstrap import connector
    from hub.services.accounts import connect_account

    platform = account.split(":", 1)[0]
    row = asyncio.run(connect_account(open_hub(require_policy=False), account, settings, secret,
                                      connector(platform)))
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
    secret = read_secret("SMTP password") if username else ""
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
    secret = read_secret("App password (xxxx-xxxx-xxxx-xxxx)")
    _connect(f"bluesky:{name}", {"handle": handle, "service": service}, secret)


@accounts_add.command("bluesky-chat")
@click.argument("name")
@click.option("--handle", required=True)
@click.option("--service", default="https://bsky.social", help="PDS URL.")
@handles_errors
def accounts_add_bluesky_chat(name: str, handle: str, service: str) -> None:
    """Bluesky group chats, with an app password allowed to use direct messages (Settings →
    App passwords → "Allow access to your direct messages")."""
    secret = read_secret("App password with DM access (xxxx-xxxx-xxxx-xxxx)")
    _connect(f"bluesky-chat:{name}", {"handle": handle, "service": service}, secret)


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
        from hub.bootstrap import oauth_flow

        flow = oauth_flow("mastodon")
        url = asyncio.run(flow.begin(instance))
        click.echo("Open this address, approve the hub, and paste the code it shows:\n")
        click.echo(f"  {url}\n")
        code = read_secret("Authorization code")
        secret = asyncio.run(flow.finish(code.strip()))
    else:
        secret = read_secret("Access token")
    _connect(f"mastodon:{name}", {"instance": instance}, secret)


@accounts_add.command("matrix")
@click.argument("name")
@click.option("--homeserver", required=True, help="e.g. https://matrix.example.org")
@handles_errors
def accounts_add_matrix(name: str, homeserver: str) -> None:
    """Matrix with an access token of the hub's own user (Element: Settings → Help & About →
    Access token; better, a dedicated user and device for the hub)."""
    secret = read_secret("Access token")
    _connect(f"matrix:{name}", {"homeserver": homeserver}, secret)


@accounts_add.command("webhook")
@click.argument("name")
@click.option("--url", required=True, help="The receiver's address (https://…).")
@click.option("--timeout", default=15.0, type=float, show_default=True)
@click.option("--generate-secret", is_flag=True,
              help="Make a new signing secret and print it once, for the receiver.")
@handles_errors
def accounts_add_webhook(name: str, url: str, timeout: float, generate_secret: bool) -> None:
    """A signed webhook (Standard Webhooks): the signing secret (whsec_…) is read from the
    prompt or stdin, or generated with --generate-secret."""
    if generate_secret:
        import base64
        import secrets

        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    else:
        secret = read_secret("Signing secret (whsec_…)")
    _connect(f"webhook:{name}", {"url": url, "timeout": timeout}, secret)
    if generate_secret:
        click.echo(f"signing secret (give it to the receiver; it is not shown again): {secret}")


@accounts.command("webhook-secret")
@click.argument("name")
@click.option("--target", default=None,
              help="The policy target that gets its own secret (default: the account's, "
                   "used by its targets without their own).")
@click.option("--generate-secret", is_flag=True,
              help="Make a new signing secret and print it once, for the receiver.")
@handles_errors
def accounts_webhook_secret(name: str, target: str | None, generate_secret: bool) -> None:
    """Set or rotate a webhook signing secret, per target: each target of the account can have
    its own (stored encrypted with the account); the others keep theirs."""
    from hub.bootstrap import connector, target_secret_rotation
    from hub.services.accounts import connect_account, stored_credentials

    account = f"webhook:{name}"
    hub = open_hub(require_policy=False)
    if target is not None:
        try:
            targets = hub.policies.current.targets
        except HubError:
            targets = None          # a broken policy does not stop a rotation
        if targets is not None and (target not in targets or
                                    targets[target].account != account):
            fail(f"the policy has no target {target!r} on {account}")
    settings, stored = stored_credentials(hub, account)
    if generate_secret:
        import base64
        import secrets

        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    else:
        secret = read_secret("Signing secret (whsec_…)")
    combined = target_secret_rotation("webhook")(stored, target, secret)
    asyncio.run(connect_account(hub, account, settings, combined, connector("webhook")))
    click.echo(f"{account}: new signing secret for " +
               (f"target {target}" if target else "the account (targets without their own)"))
    if generate_secret:
        click.echo(f"signing secret (give it to the receiver; it is not shown again): {secret}")


@accounts.command("list")
@handles_errors
def accounts_list() -> None:
    """Connected accounts and their state (never their secrets)."""
    from hub.services.accounts import list_accounts

    found = list_accounts(open_hub(require_policy=False))
    for a in found:
        state = "ok" if a.status == "ok" else f"{a.status}: {a.status_reason}"
        click.echo(f"{a.name:<24} {state}")
    if not found:
        click.echo("no accounts connected yet: add one with `hub accounts add email|bluesky|"
                   "mastodon|... <name>` (see `hub accounts add --help`)")


COMMANDS = (accounts,)
