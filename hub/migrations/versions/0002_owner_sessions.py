"""owner sessions and login throttling

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.store.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "owner_session",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created", hub.store.tables.UTCDateTime(), nullable=False),
        sa.Column("last_seen", hub.store.tables.UTCDateTime(), nullable=False),
        sa.Column("expires", hub.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("owner_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_owner_session_expires"), ["expires"], unique=False)
    op.create_table(
        "login_throttle",
        sa.Column("client", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", hub.store.tables.UTCDateTime(), nullable=True),
        sa.Column("locked_until", hub.store.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("client"),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    with op.batch_alter_table("owner_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_owner_session_expires"))
    op.drop_table("owner_session")
