"""people_version: a counter the database bumps on every change to the address book

Revision ID: 0007_perf
Revises: 0008_edits
Create Date: 2026-12-01 09:30:00.000000

Readers (``hub.store.people.PeopleCache``) compare it, inside their own transaction, with the
version of the snapshot they hold, so an unchanged address book is not read again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_perf"
down_revision = "0008_edits"
branch_labels = None
depends_on = None

TABLES = ("person", "identity", "people_list", "list_member")
VERBS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "people_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO people_version (id, n) VALUES (1, 0)")
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in VERBS:
                op.execute(
                    f"CREATE TRIGGER people_version_{table}_{verb.lower()} AFTER {verb} ON "
                    f"{table} BEGIN UPDATE people_version SET n = n + 1 WHERE id = 1; END"
                )
    else:
        # Once per transaction: a bulk import fires the trigger for every statement, and each
        # update of the one row would leave a row version behind inside the transaction.
        op.execute(
            "CREATE FUNCTION people_version_bump() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN UPDATE people_version SET n = n + 1, tx = txid_current() "
            "WHERE id = 1 AND tx IS DISTINCT FROM txid_current(); RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER people_version_bump AFTER INSERT OR UPDATE OR DELETE OR "
                f"TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION people_version_bump()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in VERBS:
                op.execute(f"DROP TRIGGER IF EXISTS people_version_{table}_{verb.lower()}")
    else:
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS people_version_bump ON {table}")
        op.execute("DROP FUNCTION IF EXISTS people_version_bump()")
    op.drop_table("people_version")
