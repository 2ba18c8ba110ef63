"""The delivery job, thin: run :func:`hub.services.delivery.deliver` for one delivery id and
count the attempt. arq runs a job at least once; ``deliver`` is safe to repeat (it claims the
delivery under a lease, and adapters publish at most once per delivery key)."""

from __future__ import annotations

import time
from typing import Any

import structlog
from arq import Retry

from hub.domain.delivery import AttemptOutcome
from hub.metrics import AttemptRecorder
from hub.runtime import Hub
from hub.services.delivery import Attempt, Claimed, deliver
from hub.services.edit_copies import run_copy_edit


async def run_delivery(hub: Hub, delivery_id: str, *, worker: str,
                       metrics: AttemptRecorder, claimed: Claimed | None = None) -> Attempt:
    """One attempt, counted by outcome and platform (the same code in both modes);
    ``claimed``: its claim was made already, with others (embedded mode)."""
    started = time.perf_counter()
    attempt = await deliver(hub, delivery_id, worker=worker, claimed=claimed)
    if attempt.status is not AttemptOutcome.SKIPPED:   # the attempt names its platform
        await metrics.record(attempt.platform, attempt.status, time.perf_counter() - started)
    return attempt


async def deliver_job(ctx: dict[str, Any], delivery_id: str) -> str:
    """arq job ``deliver``. A retry the database scheduled becomes arq's ``Retry`` at the same
    time; every other outcome ends the job (the database records failures for good)."""
    hub: Hub = ctx["hub"]
    with structlog.contextvars.bound_contextvars(job_id=ctx["job_id"], delivery_id=delivery_id):
        attempt = await run_delivery(hub, delivery_id, metrics=ctx["metrics"],
                                     worker=f"{ctx['worker_name']}#{ctx['job_try']}")
    if attempt.status is AttemptOutcome.RETRY and attempt.retry_at is not None:
        raise Retry(defer=max((attempt.retry_at - hub.now()).total_seconds(), 0.0))
    return attempt.status


async def edit_job(ctx: dict[str, Any], edit_id: str) -> bool:
    """arq job ``edit``: run one copy edit (``hub.services.edit_copies``) if it is due and no
    other worker holds it. A transient failure is put back as pending with its backoff, and
    the sweeper enqueues it again when it is due."""
    hub: Hub = ctx["hub"]
    with structlog.contextvars.bound_contextvars(job_id=ctx["job_id"], edit_id=edit_id):
        return await run_copy_edit(hub, edit_id)
