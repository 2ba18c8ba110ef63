"""post.variants: a post's thread and its per-network text variants (null for one text)

Revision ID: 0018_variants
Revises: 0004_policy_state
Create Date: 2026-12-01 12:30:00.000000

Nullable, so every post written before reads as one text with no variants.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_variants"
down_revision = "0004_policy_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("post") as batch:
        batch.add_column(sa.Column("variants", sa.JSON(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite >= 3.35 has it): a batch would copy and drop the post table,
    # which the tables that reference it forbid while foreign keys are enforced.
    op.drop_column("post", "variants")
