"""The background-job runner of ``hub serve``: one daemon thread that runs submitted jobs
(:mod:`hub.services.jobs`) one at a time, recovers what a dead process left running, and marks
what was still queued interrupted when the hub stops."""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from hub.ids import new_id
from hub.runtime import Hub
from hub.services.jobs import create, recover, rerun, run, runner_name
from hub.store.job_tables import JobRow

log = structlog.get_logger("hub.jobs")


class JobRunner:
    """Runs submitted jobs one at a time on a daemon thread of ``hub serve``. ``start``
    recovers what an earlier process left running; ``stop`` asks the running job to stop at
    its next progress step (it ends interrupted) and waits up to ``grace`` seconds."""

    def __init__(self, hub: Hub, *, services: Mapping[str, Any] | None = None,
                 grace: float = 10.0) -> None:
        self.hub = hub
        self.services = dict(services or {})
        self.name = runner_name(new_id("r"))
        self.grace = grace
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        recover(self.hub, me=self.name)
        self._thread = threading.Thread(target=self._loop, name="hub-jobs", daemon=True)
        self._thread.start()

    def submit(self, kind: str, params: Mapping[str, Any] | None = None, *,
               actor: str = "owner", total: int | None = None) -> JobRow:
        row = create(self.hub, kind, params, actor=actor, runner=self.name, total=total)
        self._queue.put(row.id)
        return row

    def rerun(self, job_id: str, *, actor: str = "owner") -> JobRow:
        row = rerun(self.hub, job_id, actor=actor, runner=self.name)
        self._queue.put(row.id)
        return row

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(self.grace)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._queue.get(timeout=60)
            except queue.Empty:
                self._safely(lambda: recover(self.hub, me=self.name))  # a dead CLI's jobs
                continue
            if job_id is None:
                break
            self._safely(functools.partial(run, self.hub, job_id, runner=self.name,
                                           stop=self._stop, services=self.services))
        self._safely(lambda: self._interrupt_queued())

    def _interrupt_queued(self) -> None:
        while True:
            try:
                job_id = self._queue.get_nowait()
            except queue.Empty:
                return
            if job_id is not None:
                with self.hub.db.transaction() as s:
                    row = s.get(JobRow, job_id)
                    if row is not None and row.state == "queued":
                        row.state, row.finished = "interrupted", self.hub.now()
                        row.error = row.message = ("the hub stopped before this job began; "
                                                   "re-run it")
                        s.add(row)

    @staticmethod
    def _safely(fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception:   # one job's bookkeeping failing never stops the runner
            log.exception("jobs.runner_error")
