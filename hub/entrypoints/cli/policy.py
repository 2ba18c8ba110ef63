"""``hub policy check|explain|test|reload``: the policy files in HUB_POLICY_DIR."""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import UTC, datetime

import click
import httpx

from hub.entrypoints.cli._common import (
    fail,
    handles_errors,
    open_hub,
    running_pid,
    settings,
)
from hub.errors import PolicyFileInvalid
from hub.policy import Policy


@click.group()
def policy() -> None:
    """The policy files in HUB_POLICY_DIR (default ./policies)."""


def _load_policy_only() -> Policy:
    from hub.bootstrap import load_policy_files

    return load_policy_files(settings())


@policy.command("check")
@handles_errors
def policy_check() -> None:
    """Validate the policy files; errors name the file and line, every one of them."""
    from hub.errors import PolicyFileInvalid

    try:
        p = _load_policy_only()
    except PolicyFileInvalid as exc:
        fail("\n".join([str(exc), *(f"also {other}" for other in exc.others)]))
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
    from hub.services.drafts import Author, PostInput
    from hub.services.policy import explain_draft

    data = PostInput(text=text, audiences=audiences, tags=tags,
                     content_warning=content_warning, language=language)
    for line in explain_draft(open_hub(), data, Author(author)):
        click.echo(line)


@policy.command("test")
@handles_errors
def policy_test() -> None:
    """Run the example posts in policies/tests/ against the policy."""
    from hub.policy.examples import load_examples, run_examples

    p = _load_policy_only()
    examples = load_examples(settings().policy_dir / "tests")
    results = run_examples(p, examples, datetime.now(UTC))
    failed = [r for r in results if not r.passed]
    for r in results:
        click.echo(("PASS " if r.passed else "FAIL ") + r.message)
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed or not results:
        sys.exit(1)


@policy.command("reload")
@handles_errors
def policy_reload() -> None:
    """Validate, then tell the running hub to load the policy (it keeps the old one on error)."""
    config = settings()
    try:
        p = _load_policy_only()
    except PolicyFileInvalid as exc:
        fail(f"{exc.message}\nthe running hub keeps its current policy")
    pid = running_pid(config)
    if pid is None:
        click.echo(f"policy ok ({p.digest[:12]}); no running hub: it loads the policy at start")
        return
    os.kill(pid, signal.SIGHUP)
    for _ in range(50):
        try:
            health = httpx.get(f"{config.base_url}/healthz", timeout=2).json()
            if health.get("policy_digest") == p.digest:
                click.echo(f"the running hub (pid {pid}) now uses policy {p.digest[:12]}")
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    fail(f"sent SIGHUP to pid {pid}, but /healthz does not show policy {p.digest[:12]} yet")


COMMANDS = (policy,)
