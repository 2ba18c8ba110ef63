"""The shipped migrations form one line: one head, every revision reachable from it.

Parallel branches each add a migration; when two land with the same ``down_revision`` the
chain forks and ``upgrade head`` fails on every install. This catches it before a server does."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from hub.store.migrate import alembic_config


def test_the_migrations_have_exactly_one_head_and_no_branch() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    assert len(heads) == 1, (f"more than one migration head: {sorted(heads)}; set the newer "
                             "one's down_revision to the other")
    revisions = list(script.walk_revisions())
    branched = [r.revision for r in revisions if r.is_branch_point]
    assert branched == [], f"migrations branch at {branched}"
    assert revisions[-1].down_revision is None
