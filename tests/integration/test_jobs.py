"""Background jobs (hub.services.jobs): failures keep a readable reason, a job whose process
died is marked interrupted and can be run again, progress counted in the work's own
transaction never runs ahead of what is committed, and the runner keeps jobs off the caller's
thread. Against real SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from typing import Any

import pytest
from sqlmodel import select

from hub.errors import Conflict, InvalidInput
from hub.services import job_runner, jobs
from hub.services.job_kinds import audit_export_job, export_file
from hub.services.people import NewPerson, add_person, list_people
from hub.store.job_tables import JobRow
from hub.store.tables import ListRow

pytestmark = pytest.mark.integration

SECRET = "hub_s3cr3t-token-value"


def fails_readably(ctx: jobs.JobContext) -> dict[str, Any]:
    ctx.progress.set(3, total=10, message="three done")
    raise InvalidInput("CSV line 4: 'x' is not a valid email")


def crashes(ctx: jobs.JobContext) -> dict[str, Any]:
    raise RuntimeError(f"internal detail {SECRET}")


def writes_lists(ctx: jobs.JobContext) -> dict[str, Any]:
    """One list per step, each in its own transaction with the count; waits at step 3 until
    the test lets it go on (``gate``), so the test can stop the runner there."""
    total = int(ctx.params["n"])
    ctx.progress.set(0, total=total, message="writing")
    for i in range(total):
        if i == 3:
            GATE["at3"].set()
            GATE["go"].wait(30)
        with ctx.hub.db.transaction() as s:
            s.add(ListRow(name=f"job-list-{i}", created=ctx.hub.now()))
            ctx.progress.advance(1, session=s)
    return {"lists": total}


GATE: dict[str, threading.Event] = {}
for name, fn in (("test-fails", fails_readably), ("test-crashes", crashes),
                 ("test-lists", writes_lists)):
    jobs.register(name, jobs.JobKind(name, f"{__name__}:{fn.__name__}"))


def dead_pid() -> int:
    done = subprocess.run(["true"], check=True)
    assert done.returncode == 0
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_failing_job_keeps_its_reason_and_where_it_got(database_url, make_hub):
    hub = make_hub(database_url)
    row = jobs.run_now(hub, "test-fails")
    assert (row.state, row.done, row.total) == ("failed", 3, 10)
    assert row.error == "CSV line 4: 'x' is not a valid email"
    assert jobs.get(hub, row.id).error == row.error and row.finished is not None


def test_an_unexpected_error_is_shown_without_its_internals(database_url, make_hub, caplog):
    hub = make_hub(database_url)
    row = jobs.run_now(hub, "test-crashes")
    assert row.state == "failed"
    assert row.error is not None and "RuntimeError" in row.error and SECRET not in row.error
    assert "log" in row.error


def test_unknown_kinds_and_rerunning_an_active_job_are_refused(database_url, make_hub):
    hub = make_hub(database_url)
    with pytest.raises(InvalidInput, match="unknown job kind 'nope'"):
        jobs.create(hub, "nope")
    queued = jobs.create(hub, "test-fails")
    with pytest.raises(Conflict, match="still queued"):
        jobs.rerun(hub, queued.id)


def test_a_job_whose_process_died_is_interrupted_with_a_reason_and_can_be_rerun(
        database_url, make_hub):
    hub = make_hub(database_url)
    gone = f"{dead_pid()}@{jobs.runner_name().split('@', 1)[1]}"
    orphan = jobs.create(hub, "test-lists", {"n": 5}, runner=gone, total=5)
    with hub.db.transaction() as s:
        row = s.get(JobRow, orphan.id)
        assert row is not None
        row.state, row.done = "running", 2
    mine = jobs.create(hub, "test-lists", {"n": 5})   # this process: alive, left alone
    [interrupted] = jobs.recover(hub)
    assert interrupted.id == orphan.id
    again = jobs.get(hub, orphan.id)
    assert again.state == "interrupted" and again.error is not None
    assert "stopped while this job was running (at 2 of 5)" in again.error
    assert "re-run" in again.error
    assert jobs.get(hub, mine.id).state == "queued"
    redo = jobs.rerun(hub, orphan.id)
    assert (redo.state, redo.kind, redo.params, redo.rerun_of) == (
        "queued", "test-lists", {"n": 5}, orphan.id)


def test_stopping_the_runner_interrupts_a_job_whose_count_matches_what_was_committed(
        database_url, make_hub):
    hub = make_hub(database_url)
    GATE.update(at3=threading.Event(), go=threading.Event())
    runner = job_runner.JobRunner(hub)
    runner.start()
    job = runner.submit("test-lists", {"n": 8})
    assert GATE["at3"].wait(30)
    assert jobs.get(hub, job.id).state == "running"
    stopper = threading.Thread(target=runner.stop)
    stopper.start()
    GATE["go"].set()
    stopper.join(30)
    row = jobs.get(hub, job.id)
    assert row.state == "interrupted" and row.error and "stopped" in row.error
    with hub.db.read() as s:
        written = [r.name for r in s.exec(select(ListRow)) if r.name.startswith("job-list-")]
    assert row.done == len(written) == 3   # the step under way when it stopped: rolled back


def test_the_runner_runs_jobs_off_the_callers_thread_and_reruns_them(database_url, make_hub):
    hub = make_hub(database_url, real_clock=True)
    GATE.update(at3=threading.Event(), go=threading.Event())
    GATE["go"].set()
    runner = job_runner.JobRunner(hub)
    runner.start()
    try:
        job = runner.submit("test-lists", {"n": 4})
        assert GATE["at3"].wait(30)
        finished = _wait_finished(hub, job.id)
        assert (finished.state, finished.done, finished.total, finished.result) == (
            "done", 4, 4, {"lists": 4})
        assert finished.started and finished.finished and finished.started <= finished.finished
        failed = _wait_finished(hub, runner.submit("test-fails").id)
        assert failed.state == "failed"
        redo = _wait_finished(hub, runner.rerun(failed.id).id)
        assert redo.rerun_of == failed.id and redo.state == "failed"
        assert [j.id for j in jobs.recent(hub, limit=2)] == [redo.id, failed.id]
        assert [j.id for j in jobs.recent(hub, before=failed.id)] == [job.id]
    finally:
        runner.stop()


def _wait_finished(hub, job_id: str) -> JobRow:
    done = threading.Event()
    row = jobs.get(hub, job_id)
    while row.state in jobs.ACTIVE:
        done.wait(0.02)   # polling the row: the job's end is the observable condition
        row = jobs.get(hub, job_id)
    return row


def test_audit_export_job_writes_an_owner_only_file_with_every_event(database_url, make_hub):
    hub = make_hub(database_url)
    for i in range(3):
        add_person(hub, NewPerson(f"P{i}", [("email", f"p{i}@example.org")]))
    row = jobs.run_now(hub, "audit-export", {"format": "jsonl"})
    assert row.state == "done", row.error
    path = export_file(hub, row)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert row.result["events"] == row.done == row.total == len(lines) >= 3
    assert audit_export_job.__doc__


def test_audit_verify_job_reports_the_outcome(database_url, make_hub):
    hub = make_hub(database_url)
    add_person(hub, NewPerson("Ana"))
    seen: list[tuple[int, int | None]] = []
    row = jobs.run_now(hub, "audit-verify", on_update=lambda d, t, m: seen.append((d, t)))
    assert row.state == "done" and row.result["ok"] is True
    assert row.message.startswith("ok: ") and seen[-1] == (row.done, row.total)
    assert [p.name for p, _, _ in list_people(hub)] == ["Ana"]


def test_scopes_decide_which_jobs_a_token_sees():
    assert jobs.readable_by("audit-export", {"audit"}, unlimited=True)
    assert not jobs.readable_by("audit-export", {"audit"}, unlimited=False)
    assert not jobs.readable_by("audit-export", {"read", "post"}, unlimited=True)
    assert not jobs.readable_by("people-import", {"post", "read", "audit", "approve"},
                                unlimited=True)   # the owner's session alone


def test_the_migration_matches_the_job_table(sqlite_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    from hub.store.db import make_engine
    from hub.store.migrate import upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert [d for d in diff if "'job'" in repr(d) or "ix_job" in repr(d)] == []
