"""contact relationships bump people_version: rule lists are evaluated over them

Revision ID: 0016_rule_lists
Revises: 0012_audit_queue
Create Date: 2026-12-01 12:30:00.000000

A list that keeps itself (``followers of mastodon:main``) changes when contact sync records a
follow that began or ended, so the snapshot routing reads (``hub.store.people``) must be read
again then. Only a change of a side of the follow counts: a sync run that merely sees the
same follower again (``followers_run``) leaves the version alone.
"""

from __future__ import annotations

from alembic import op

revision = "0016_rule_lists"
down_revision = "0012_audit_queue"
branch_labels = None
depends_on = None

_TABLE = "contact_relationship"
_CHANGED = ("OLD.follows_me IS NOT NEW.follows_me OR OLD.i_follow IS NOT NEW.i_follow "
            "OR OLD.follows_me_since IS NOT NEW.follows_me_since "
            "OR OLD.i_follow_since IS NOT NEW.i_follow_since")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("INSERT", "DELETE"):
            op.execute(f"CREATE TRIGGER people_version_{_TABLE}_{verb.lower()} AFTER {verb} ON "
                       f"{_TABLE} BEGIN UPDATE people_version SET n = n + 1 WHERE id = 1; END")
        op.execute(f"CREATE TRIGGER people_version_{_TABLE}_update AFTER UPDATE ON {_TABLE} "
                   f"WHEN {_CHANGED} BEGIN UPDATE people_version SET n = n + 1 WHERE id = 1; "
                   "END")
    else:   # people_version_bump() (0007_perf) bumps once per transaction
        op.execute(f"CREATE TRIGGER people_version_bump AFTER INSERT OR DELETE OR TRUNCATE ON "
                   f"{_TABLE} FOR EACH STATEMENT EXECUTE FUNCTION people_version_bump()")
        changed = _CHANGED.replace("IS NOT", "IS DISTINCT FROM")
        op.execute(f"CREATE TRIGGER people_version_bump_changed AFTER UPDATE ON {_TABLE} "
                   f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION people_version_bump()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS people_version_{_TABLE}_{verb}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS people_version_bump ON {_TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS people_version_bump_changed ON {_TABLE}")
