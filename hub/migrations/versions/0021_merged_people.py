"""merged_person: who a person merged away was, for the audit's answers

Revision ID: 0021_merged_people
Revises: 0020_contact_handles
Create Date: 2026-12-01 15:50:00.000000

A merge deletes the person merged away, while the who-could-see snapshots and their index
(``audit_visibility``) keep naming that person's id, as they must. This table, written in the
merge's transaction, lets the answers say "Bea (merged into Ana on 2026-12-01)" instead of
an unnamed id. Nothing recorded before is changed.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.store.tables

revision = "0021_merged_people"
down_revision = "0020_contact_handles"
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "merged_person",
        sa.Column("id", _S(length=32), nullable=False),
        sa.Column("name", _S(length=200), nullable=False),
        sa.Column("into_id", _S(length=32), nullable=False),
        sa.Column("into_name", _S(length=200), nullable=False),
        sa.Column("merged", hub.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_merged_person_into_id", "merged_person", ["into_id"])


def downgrade() -> None:
    op.drop_index("ix_merged_person_into_id", table_name="merged_person")
    op.drop_table("merged_person")
