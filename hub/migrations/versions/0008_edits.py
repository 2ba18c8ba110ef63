"""post versions and per-copy edits

Revision ID: 0008_edits
Revises: 0003b_audit_tree
Create Date: 2026-12-01 10:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.store.tables

revision = "0008_edits"
down_revision = "0003b_audit_tree"
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_TS = hub.store.tables.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "post_version",
        sa.Column("post_id", _S(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_warning", _S(length=500), nullable=True),
        sa.Column("language", _S(length=16), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("text_sha256", _S(length=64), nullable=False),
        sa.Column("actor", _S(length=120), nullable=False),
        sa.Column("created", _TS(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["post.id"]),
        sa.PrimaryKeyConstraint("post_id", "version"),
    )
    op.create_table(
        "copy_edit",
        sa.Column("id", _S(length=32), nullable=False),
        sa.Column("post_id", _S(length=32), nullable=False),
        sa.Column("delivery_id", _S(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("target", _S(length=100), nullable=False),
        sa.Column("action", _S(length=16), nullable=False),
        sa.Column("status", _S(length=16), nullable=False),
        sa.Column("key", _S(length=13), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", _TS(), nullable=True),
        sa.Column("new_receipt", sa.JSON(), nullable=True),
        sa.Column("created", _TS(), nullable=False),
        sa.Column("updated", _TS(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["post.id"]),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.UniqueConstraint("delivery_id", "version", name="uq_copy_edit_version"),
    )
    op.create_index("ix_copy_edit_post_id", "copy_edit", ["post_id"])
    op.create_index("ix_copy_edit_delivery_id", "copy_edit", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_copy_edit_delivery_id", table_name="copy_edit")
    op.drop_index("ix_copy_edit_post_id", table_name="copy_edit")
    op.drop_table("copy_edit")
    op.drop_table("post_version")
