"""background jobs with progress

Revision ID: 0011_jobs
Revises: 0018_variants
Create Date: 2026-12-01 12:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.store.tables

revision = "0011_jobs"
down_revision = "0018_variants"
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_TS = hub.store.tables.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", _S(length=32), nullable=False),
        sa.Column("kind", _S(length=32), nullable=False),
        sa.Column("state", _S(length=16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("message", _S(length=500), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("actor", _S(length=120), nullable=False),
        sa.Column("runner", _S(length=120), nullable=True),
        sa.Column("rerun_of", _S(length=32), nullable=True),
        sa.Column("created", _TS(), nullable=False),
        sa.Column("started", _TS(), nullable=True),
        sa.Column("finished", _TS(), nullable=True),
        sa.Column("heartbeat", _TS(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_state", "job", ["state"])
    op.create_index("ix_job_created", "job", ["created"])


def downgrade() -> None:
    op.drop_index("ix_job_created", table_name="job")
    op.drop_index("ix_job_state", table_name="job")
    op.drop_table("job")
