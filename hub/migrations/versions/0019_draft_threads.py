"""saved_draft.variants: a draft keeps its thread parts and per-network variants

Revision ID: 0019_draft_threads
Revises: 0013_perf
Create Date: 2026-12-01 13:30:00.000000

Before this, saving a draft from the compose form kept only the first part of a thread and
dropped the per-network texts. The column has the post table's shape:
{"thread": [parts], "variants": {key: [parts]}}, or NULL for a draft of one text.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_draft_threads"
down_revision = "0013_perf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("saved_draft", sa.Column("variants", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("saved_draft", "variants")
