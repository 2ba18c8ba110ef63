"""audit Merkle tree, signed checkpoints, anchors, last verification; the tree is back-filled

Revision ID: 0003b_audit_tree
Revises: 0003_audit_index
Create Date: 2026-12-01 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.store.tables
from hub.audit.tree import backfill
from hub.store.append_only import create_statements, drop_statements

revision = "0003b_audit_tree"
down_revision = "0003_audit_index"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_FROZEN = ("audit_tree", "audit_checkpoint", "audit_anchor")


def upgrade() -> None:
    op.create_table(
        "audit_tree",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("hash", _STR(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("level", "idx"),
        sa.UniqueConstraint("seq"),
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root", _STR(length=64), nullable=False),
        sa.Column("created", hub.store.tables.UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_checkpoint") as b:
        b.create_index(b.f("ix_audit_checkpoint_tree_size"), ["tree_size"])
    op.create_table(
        "audit_anchor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("sink", _STR(length=100), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("created", hub.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_verification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started", hub.store.tables.UTCDateTime(), nullable=False),
        sa.Column("finished", hub.store.tables.UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root", _STR(length=64), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("anchors", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    backfill(op.get_bind())
    for table in _FROZEN:
        for sql in create_statements(op.get_bind().dialect.name, table):
            op.execute(sql)


def downgrade() -> None:
    for table in _FROZEN:
        for sql in drop_statements(op.get_bind().dialect.name, table):
            op.execute(sql)
        op.drop_table(table)
    op.drop_table("audit_verification")
