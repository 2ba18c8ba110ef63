"""Background jobs: long work (imports, exports, verification, contact sync) with progress.

A job is a row (``hub.store.job_tables.JobRow``): its kind, state (queued → running → done,
failed or interrupted), ``done``/``total``, a one-line message, when it started and finished,
and a readable reason when it failed. A job *kind* is a function ``fn(ctx) -> result`` named
in :data:`KINDS`; it reports through ``ctx.progress`` and may raise ``HubError`` (its message
becomes the job's reason). Anything else it raises is logged and shown as an unexpected error.

Two ways to run one:

- :func:`run_now` runs a job in the calling thread (the CLI), calling ``on_update`` at every
  step for a progress bar; the row is there for the pages meanwhile.
- :class:`hub.services.job_runner.JobRunner` (built by the composition root for
  ``hub serve``) runs submitted jobs one at a time on a thread of its own, so the hub keeps
  serving. When it starts it marks the jobs whose process is gone as interrupted
  (:func:`recover`); :func:`rerun` queues one again.

Writing a kind (e.g. a contact sync)::

    def sync_job(ctx: JobContext) -> dict[str, Any]:
        ctx.progress.set(0, total=None, message="reading followers")
        for page in pages:
            with ctx.hub.db.transaction() as s:
                ...                                      # one short transaction per step
                ctx.progress.advance(len(page), session=s)   # counted with the work itself
        return {"seen": n}                               # kept as the job's result

and add ``"contacts-sync": JobKind(...)`` to :data:`KINDS` (or :func:`register` it). Start it
with ``app.state.jobs.submit(kind, params)`` (``hub serve``) or :func:`run_now` (the CLI).
``progress`` raises :class:`JobStopped` when the hub is shutting down; let it propagate (the
job ends interrupted; re-running it must redo nothing twice).
"""

from __future__ import annotations

import importlib
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlmodel import Session, col, select

from hub.errors import Conflict, HubError, InvalidInput, NotFound
from hub.ids import new_id
from hub.runtime import Hub
from hub.store.job_tables import JobRow

log = structlog.get_logger("hub.jobs")

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "interrupted")
STALE_AFTER = timedelta(minutes=10)   # no progress written for this long: the runner is gone
WRITE_EVERY = 0.5                     # seconds between progress writes of their own


@dataclass(frozen=True)
class JobKind:
    """A kind of job: ``run`` is ``"module:function"`` (imported when a job runs), ``scope``
    the API token scope that may see and start it (None: only the owner's session)."""

    title: str
    run: str
    scope: str | None = None
    unlimited: bool = True   # tokens limited to some audiences may not see it


KINDS: dict[str, JobKind] = {
    "people-import": JobKind("Import people", "hub.services.people_import_job:import_job"),
    "audit-export": JobKind("Export the audit log", "hub.services.job_kinds:audit_export_job",
                            scope="audit"),
    "audit-verify": JobKind("Verify the audit log", "hub.services.job_kinds:audit_verify_job",
                            scope="audit"),
}


def register(name: str, kind: JobKind) -> None:
    """Add a kind at run time (a plug-in, a test); the names in :data:`KINDS` are built in."""
    if name in KINDS and KINDS[name] != kind:
        raise InvalidInput(f"job kind {name!r} is already registered", field="kind")
    KINDS[name] = kind


class JobStopped(HubError):
    """The runner is stopping: the job ends ``interrupted`` with this reason."""


OnUpdate = Callable[[int, int | None, str], None]


class Progress:
    """What a running job reports. ``advance(n, session=s)`` writes the count in ``s`` (the
    transaction doing the work, so the count never runs ahead of what is committed); without
    a session it writes at most every ``WRITE_EVERY`` seconds in a transaction of its own."""

    def __init__(self, hub: Hub, job_id: str, *, stop: threading.Event | None = None,
                 on_update: OnUpdate | None = None, clock: Callable[[], float] | None = None
                 ) -> None:
        self._hub, self._id = hub, job_id
        self._stop = stop or threading.Event()
        self._on_update = on_update
        self._clock = clock or time.monotonic
        self._written = 0.0
        self.done: int = 0
        self.total: int | None = None
        self.message: str = ""
        self.counts_in_session = False   # then the row's count is what was committed

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def check(self) -> None:
        """Raise :class:`JobStopped` when the hub is stopping."""
        if self._stop.is_set():
            raise JobStopped("the hub stopped while this job ran; re-run it to finish "
                             "(work already committed is kept, and is not done twice)")

    def set(self, done: int | None = None, *, total: int | None = None,
            message: str | None = None, session: Session | None = None,
            force: bool = False) -> None:
        """Record where the job stands. Raises :class:`JobStopped` first when the hub is
        stopping, so a step counted in ``session`` is rolled back with the work."""
        self.check()
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if message is not None:
            self.message = message[:500]
        if self._on_update is not None:
            self._on_update(self.done, self.total, self.message)
        self._write(session, force=force)

    def advance(self, n: int = 1, *, message: str | None = None,
                session: Session | None = None) -> None:
        self.set(self.done + n, message=message, session=session)

    def _write(self, session: Session | None, *, force: bool) -> None:
        now = self._clock()
        if session is None and not force and now - self._written < WRITE_EVERY:
            return
        self._written = now
        if session is not None:
            self.counts_in_session = True
            self._apply(session)
            return
        with self._hub.db.transaction() as s:
            self._apply(s)

    def _apply(self, s: Session) -> None:
        row = s.get(JobRow, self._id)
        if row is not None:
            row.done, row.total, row.message = self.done, self.total, self.message
            row.heartbeat = self._hub.now()
            s.add(row)


@dataclass(frozen=True)
class JobContext:
    """What a job function gets: the hub, its parameters, its progress, and the services the
    composition root hands jobs (``anchor_sinks`` for a verification)."""

    hub: Hub
    job_id: str
    params: Mapping[str, Any]
    progress: Progress
    services: Mapping[str, Any] = field(default_factory=dict)


def runner_name(token: str = "") -> str:
    """This process, as a job's ``runner`` records it: ``pid@host/token``."""
    return f"{os.getpid()}@{socket.gethostname()[:60]}/{token or 'cli'}"[:120]


def kind_of(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise InvalidInput(f"unknown job kind {name!r}: use {', '.join(sorted(KINDS))}",
                           field="kind") from None


def create(hub: Hub, kind: str, params: Mapping[str, Any] | None = None, *,
           actor: str = "owner", runner: str | None = None, rerun_of: str | None = None,
           total: int | None = None, message: str = "waiting to start") -> JobRow:
    """A queued job (not yet running: :func:`run` or a :class:`JobRunner` runs it)."""
    kind_of(kind)
    row = JobRow(id=new_id("j"), kind=kind, params=dict(params or {}), actor=actor[:120],
                 runner=runner or runner_name(), rerun_of=rerun_of, total=total,
                 message=message, created=hub.now(), heartbeat=hub.now())
    with hub.db.transaction() as s:
        s.add(row)
    return row


def get(hub: Hub, job_id: str) -> JobRow:
    with hub.db.read() as s:
        row = s.get(JobRow, job_id)
    if row is None:
        raise NotFound(f"no job {job_id!r}")
    return row


def recent(hub: Hub, *, limit: int = 50, before: str | None = None,
           kinds: Sequence[str] | None = None) -> list[JobRow]:
    """Newest first; ``before`` is the id of the last job of the previous page."""
    with hub.db.read() as s:
        q = select(JobRow)
        if kinds is not None:
            q = q.where(col(JobRow.kind).in_(list(kinds)))
        if before is not None:
            last = s.get(JobRow, before)
            if last is None or (kinds is not None and last.kind not in kinds):
                # a job the caller may not see is answered like one that does not exist
                raise InvalidInput(f"no job {before!r} to continue after", field="before")
            q = q.where((col(JobRow.created) < last.created) |
                        ((col(JobRow.created) == last.created) & (col(JobRow.id) < last.id)))
        return list(s.exec(q.order_by(col(JobRow.created).desc(), col(JobRow.id).desc())
                           .limit(limit)))


def readable_by(kind: str, scopes: frozenset[str] | set[str], *, unlimited: bool) -> bool:
    """May an API token with ``scopes`` (audience-limited unless ``unlimited``) see or start
    jobs of ``kind``? Kinds without a scope belong to the owner's session alone."""
    k = KINDS.get(kind)
    return (k is not None and k.scope is not None and k.scope in scopes
            and (unlimited or not k.unlimited))


def as_dict(job: JobRow) -> dict[str, Any]:
    """A job as the API, the status answer and ``hub jobs show`` give it."""
    percent = (round(100 * job.done / job.total) if job.total else
               (100 if job.state == "done" else None))
    kind = KINDS.get(job.kind)
    return {"id": job.id, "kind": job.kind, "title": kind.title if kind else job.kind,
            "state": job.state, "done": job.done, "total": job.total, "percent": percent,
            "message": job.message, "error": job.error, "result": job.result,
            "created": job.created.isoformat(),
            "started": job.started.isoformat() if job.started else None,
            "finished": job.finished.isoformat() if job.finished else None,
            "rerun_of": job.rerun_of, "actor": job.actor}


def _claim(hub: Hub, job_id: str, runner: str) -> JobRow:
    with hub.db.transaction() as s:
        row = s.get(JobRow, job_id)
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        if row.state != "queued":
            raise Conflict(f"job {job_id} is {row.state}, not queued")
        row.state, row.runner, row.started = "running", runner, hub.now()
        row.heartbeat, row.message = row.started, "started"
        s.add(row)
        return row


def _finish(hub: Hub, job_id: str, progress: Progress, state: str, *,
            error: str | None = None, result: Mapping[str, Any] | None = None) -> JobRow:
    with hub.db.transaction() as s:
        row = s.get(JobRow, job_id)
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        row.state, row.finished, row.error = state, hub.now(), error
        if state == "done" or not progress.counts_in_session:
            row.done = progress.done
        row.total = progress.total
        row.message = progress.message if state == "done" else (error or "")[:500]
        if result is not None:
            row.result = dict(result)
        s.add(row)
        return row


def run(hub: Hub, job_id: str, *, runner: str | None = None,
        stop: threading.Event | None = None, on_update: OnUpdate | None = None,
        services: Mapping[str, Any] | None = None) -> JobRow:
    """Run a queued job in this thread to its end; return its final row (never raises for a
    job that failed: the row says why)."""
    row = _claim(hub, job_id, runner or runner_name())
    progress = Progress(hub, job_id, stop=stop, on_update=on_update)
    progress.total = row.total
    try:
        module, _, name = kind_of(row.kind).run.partition(":")
        fn = getattr(importlib.import_module(module), name)
        result = fn(JobContext(hub, job_id, row.params, progress, services or {}))
    except JobStopped as exc:
        return _finish(hub, job_id, progress, "interrupted", error=exc.message)
    except HubError as exc:
        return _finish(hub, job_id, progress, "failed", error=exc.message)
    except Exception as exc:
        log.exception("job.crashed", job_id=job_id, kind=row.kind)
        return _finish(hub, job_id, progress, "failed",
                       error=f"unexpected error ({type(exc).__name__}); the hub's log has "
                             "the details")
    return _finish(hub, job_id, progress, "done", result=result or {})


def run_now(hub: Hub, kind: str, params: Mapping[str, Any] | None = None, *,
            actor: str = "owner", on_update: OnUpdate | None = None,
            services: Mapping[str, Any] | None = None) -> JobRow:
    """Create a job and run it here (the CLI: ``on_update`` draws its progress bar)."""
    me = runner_name()
    job = create(hub, kind, params, actor=actor, runner=me)
    return run(hub, job.id, runner=me, on_update=on_update, services=services)


def _alive(runner: str | None, me: str) -> bool:
    """Is the process named by ``runner`` still running (this host only; else unknown)?"""
    if not runner or runner == me:
        return bool(runner)
    pid_text, _, rest = runner.partition("@")
    host = rest.partition("/")[0]
    if host != socket.gethostname()[:60] or not pid_text.isdigit():
        return True   # another machine: only a stale heartbeat tells
    if int(pid_text) == os.getpid():
        return False  # our pid, another token: an earlier life of this process's pid
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(hub: Hub, *, me: str | None = None) -> list[JobRow]:
    """Mark interrupted the queued or running jobs whose process is gone (or that wrote no
    progress for ``STALE_AFTER``), with a reason; return them."""
    me = me or runner_name()
    now = hub.now()
    out = []
    with hub.db.transaction() as s:
        for row in s.exec(select(JobRow).where(col(JobRow.state).in_(ACTIVE))):
            beat = row.heartbeat or row.created
            if _alive(row.runner, me) and now - beat < STALE_AFTER:
                continue
            was = "running" if row.state == "running" else "waiting to start"
            row.state, row.finished = "interrupted", now
            row.error = (f"the hub stopped while this job was {was} (at {row.done:,}"
                         f"{f' of {row.total:,}' if row.total else ''}); re-run it to finish "
                         "(work already committed is kept, and is not done twice)")
            row.message = row.error[:500]
            s.add(row)
            out.append(row)
    for row in out:
        log.warning("job.interrupted", job_id=row.id, kind=row.kind, done=row.done)
    return out


def rerun(hub: Hub, job_id: str, *, actor: str = "owner", runner: str | None = None
          ) -> JobRow:
    """A new queued job with the same kind and parameters as a finished one."""
    old = get(hub, job_id)
    if old.state not in FINISHED:
        raise Conflict(f"job {job_id} is still {old.state}; wait for it to end")
    return create(hub, old.kind, old.params, actor=actor, runner=runner, rerun_of=old.id)
