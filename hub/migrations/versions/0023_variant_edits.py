"""post_version.variants: each version of an edited post keeps its per-network text variants

Revision ID: 0023_variant_edits
Revises: 0024_draft_owner
Create Date: 2026-12-01 15:50:00.000000

Nullable, like post.variants: every version written before had no variants (a post written
with variants could not be edited until now).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_variant_edits"
down_revision = "0024_draft_owner"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("post_version") as batch:
        batch.add_column(sa.Column("variants", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("post_version", "variants")
