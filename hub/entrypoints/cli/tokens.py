"""``hub token create|list|revoke``: API tokens (stored hashed, shown once)."""

from __future__ import annotations

import click

from hub.entrypoints.cli._common import handles_errors, open_hub, warn_public_url


@click.group()
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
    hub = open_hub()
    row, secret = create_token(hub, name, scope_list, aud)
    click.echo(f"token {row.id} ({row.name}): scopes {', '.join(row.scopes)}; audiences "
               f"{', '.join(row.audiences) if row.audiences is not None else 'any'}")
    click.echo("Shown once; store it now:")
    click.secho(secret, bold=True)
    click.echo(f"Phone shortcut: POST {hub.settings.base_url}/api/posts, header "
               "'Authorization: Bearer <token>', form fields text and audiences")
    warn_public_url(hub.settings)


@token.command("list")
@handles_errors
def token_list() -> None:
    """Tokens (never their secrets)."""
    from hub.services.tokens import list_tokens

    for t in list_tokens(open_hub(require_policy=False)):
        state = f"revoked {t.revoked:%Y-%m-%d}" if t.revoked else "active"
        click.echo(f"{t.id}  {t.name:<16} {','.join(t.scopes):<24} "
                   f"{','.join(t.audiences) if t.audiences is not None else 'any':<20} {state}")


@token.command("revoke")
@click.argument("ref")
@handles_errors
def token_revoke(ref: str) -> None:
    """Revoke a token by id or name."""
    from hub.services.tokens import revoke_token

    row = revoke_token(open_hub(require_policy=False), ref)
    click.echo(f"revoked {row.id} ({row.name})")


COMMANDS = (token,)
