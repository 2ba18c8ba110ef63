"""audit_queue: events waiting for the sequencer; audit_visibility.grew for AudienceGrew rows

Revision ID: 0012_audit_queue
Revises: 0017_queue
Create Date: 2026-12-01 12:10:00.000000

Events commit into ``audit_queue`` with the change they record; the sequencer gives them their
place in the hash chain and the Merkle tree in batches (``hub.audit.sequencer``). The queue is
not append-only: the sequencer deletes what it sequenced, in the same transaction. The new
``grew`` column is false for every row already indexed.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.store.tables

revision = "0012_audit_queue"
down_revision = "0017_queue"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "audit_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _STR(length=40), nullable=False),
        sa.Column("created", hub.store.tables.UTCDateTime(), nullable=False),
        sa.Column("actor", _STR(length=120), nullable=False),
        sa.Column("post_id", _STR(length=32), nullable=True),
        sa.Column("delivery_id", _STR(length=32), nullable=True),
        sa.Column("subject", _STR(length=200), nullable=True),
        sa.Column("policy_digest", _STR(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_queue_post_id"), "audit_queue", ["post_id"])
    # a plain ADD COLUMN (no table copy): cheap on a large index, and the triggers that keep
    # audit_visibility append-only stay in place
    op.add_column("audit_visibility", sa.Column("grew", sa.Boolean(), nullable=False,
                                                server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("audit_visibility", "grew")
    op.drop_index(op.f("ix_audit_queue_post_id"), table_name="audit_queue")
    op.drop_table("audit_queue")
