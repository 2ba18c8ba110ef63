"""people_version row 2: a counter the database bumps on every change to the accounts

Revision ID: 0013_perf
Revises: 0016_rule_lists
Create Date: 2026-12-01 12:15:00.000000

``hub.store.versions.LocalDomains`` compares it, inside the reader's own transaction, with the
version of the Mastodon domains it holds, so submit and the publish-time re-check do not read
the accounts again while they did not change (one version read for people and accounts).
"""

from __future__ import annotations

from alembic import op

revision = "0013_perf"
down_revision = "0016_rule_lists"
branch_labels = None
depends_on = None

VERBS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.execute("INSERT INTO people_version (id, n) VALUES (2, 0)")
    if op.get_bind().dialect.name == "sqlite":
        for verb in VERBS:
            op.execute(
                f"CREATE TRIGGER account_version_{verb.lower()} AFTER {verb} ON account "
                f"BEGIN UPDATE people_version SET n = n + 1 WHERE id = 2; END"
            )
    else:
        op.execute(
            "CREATE FUNCTION account_version_bump() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN UPDATE people_version SET n = n + 1, tx = txid_current() "
            "WHERE id = 2 AND tx IS DISTINCT FROM txid_current(); RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER account_version_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            "ON account FOR EACH STATEMENT EXECUTE FUNCTION account_version_bump()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in VERBS:
            op.execute(f"DROP TRIGGER IF EXISTS account_version_{verb.lower()}")
    else:
        op.execute("DROP TRIGGER IF EXISTS account_version_bump ON account")
        op.execute("DROP FUNCTION IF EXISTS account_version_bump()")
    op.execute("DELETE FROM people_version WHERE id = 2")
