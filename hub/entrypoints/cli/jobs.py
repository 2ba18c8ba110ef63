"""``hub jobs …``: background jobs (imports, audit exports and verifications) and their
progress; ``hub jobs rerun`` finishes an interrupted or failed one here, with a progress bar."""

from __future__ import annotations

import click

from hub.entrypoints.cli._common import echo_json, fail, handles_errors, open_hub
from hub.entrypoints.cli._progress import progress_bar
from hub.store.job_tables import JobRow


def _line(job: JobRow) -> str:
    from hub.services.jobs import as_dict

    figures = f"{job.done:,}/{job.total:,}" if job.total else f"{job.done:,}"
    return (f"{job.id}  {job.state:<11} {figures:>15}  {as_dict(job)['title']}: "
            f"{job.error or job.message}")


@click.group()
def jobs() -> None:
    """Background jobs: what ran, how far it got, why it failed."""


@jobs.command("list")
@click.option("--limit", default=20, show_default=True)
@handles_errors
def jobs_list(limit: int) -> None:
    """The latest jobs, newest first."""
    from hub.services import jobs as service

    rows = service.recent(open_hub(require_policy=False), limit=limit)
    for row in rows:
        click.echo(_line(row))
    if not rows:
        click.echo("no jobs yet")


@jobs.command("show")
@click.argument("job_id")
@handles_errors
def jobs_show(job_id: str) -> None:
    """One job as JSON."""
    from hub.services import jobs as service

    echo_json(service.as_dict(service.get(open_hub(require_policy=False), job_id)))


@jobs.command("rerun")
@click.argument("job_id")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handles_errors
def jobs_rerun(job_id: str, quiet: bool) -> None:
    """Run a failed or interrupted job again, here (work already done is not done twice)."""
    from hub.bootstrap import job_services
    from hub.services import jobs as service

    hub = open_hub(require_policy=False)
    me = service.runner_name()
    job = service.rerun(hub, job_id, runner=me)
    with progress_bar(service.kind_of(job.kind).title, quiet=quiet) as update:
        row = service.run(hub, job.id, runner=me, on_update=update,
                          services=job_services(hub))
    if row.state != "done":
        fail(f"job {row.id} {row.state}: {row.error}")
    click.echo(f"{row.id} done: {row.message}")


COMMANDS = (jobs,)
