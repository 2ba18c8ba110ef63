"""policy_state: the digest of the policy the hub loaded last, written on every load

Revision ID: 0004_policy_state
Revises: 0010_contacts
Create Date: 2026-12-01 10:20:00.000000

Every worker compares it with its own policy before each publish and loads the files again
when they differ, so a reload reaches every worker before its next publish.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_policy_state"
down_revision = "0010_contacts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("loaded", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("policy_state")
