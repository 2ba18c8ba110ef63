"""saved_draft and owner_notice; indexes for the list pages

Revision ID: 0017_queue
Revises: 0011_jobs
Create Date: 2026-12-01 12:20:00.000000

Drafts saved from the compose form or the API (never routed until sent), the owner's notices of
posts waiting for approval, and the indexes the paged lists of posts and deliveries sort by.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_queue"
down_revision = "0011_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_draft",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("audiences", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("content_warning", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("schedule_at", sa.DateTime(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_saved_draft_author", "saved_draft", ["author"])
    op.create_index("ix_saved_draft_updated", "saved_draft", ["updated"])
    op.create_table(
        "owner_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("post_id", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_owner_notice_post_id", "owner_notice", ["post_id"])
    op.create_index("ix_owner_notice_created", "owner_notice", ["created"])
    op.create_index("ix_delivery_created_id", "delivery", ["created", "id"])
    op.create_index("ix_post_created_id", "post", ["created", "id"])


def downgrade() -> None:
    op.drop_index("ix_post_created_id", table_name="post")
    op.drop_index("ix_delivery_created_id", table_name="delivery")
    op.drop_table("owner_notice")
    op.drop_table("saved_draft")
