"""who-could-see index (per person, per post), back-filled from the existing events

Revision ID: 0003_audit_index
Revises: 0005_security
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.store.tables
from hub.audit.index import backfill
from hub.store.append_only import create_statements, drop_statements

revision = "0003_audit_index"
down_revision = "0005_security"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_FROZEN = ("audit_visibility", "audit_fetch")


def upgrade() -> None:
    op.create_table(
        "audit_visibility",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("post_id", _STR(length=32), nullable=False),
        sa.Column("delivery_id", _STR(length=32), nullable=False),
        sa.Column("created", hub.store.tables.UTCDateTime(), nullable=False),
        sa.Column("account", _STR(length=100), nullable=False),
        sa.Column("target", _STR(length=100), nullable=False),
        sa.Column("reach", _STR(length=20), nullable=False),
        sa.Column("lower_bound", sa.Boolean(), nullable=False),
        sa.Column("url", _STR(length=1000), nullable=True),
        sa.Column("member", _STR(length=340), nullable=False),
        sa.Column("person_id", _STR(length=32), nullable=True),
        sa.Column("identity", _STR(length=320), nullable=False),
        sa.Column("via_list", _STR(length=64), nullable=True),
        sa.Column("public_rank", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_visibility") as b:
        b.create_index("ix_audit_visibility_member", ["member", "created", "id"])
        b.create_index("ix_audit_visibility_delivery", ["delivery_id", "id"])
        b.create_index(b.f("ix_audit_visibility_event_seq"), ["event_seq"])
        b.create_index(b.f("ix_audit_visibility_post_id"), ["post_id"])
        b.create_index(b.f("ix_audit_visibility_public_rank"), ["public_rank"])
    op.create_table(
        "audit_fetch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("post_id", _STR(length=32), nullable=False),
        sa.Column("person_id", _STR(length=200), nullable=True),
        sa.Column("feed", _STR(length=64), nullable=False),
        sa.Column("created", hub.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_fetch") as b:
        b.create_index("ix_audit_fetch_post", ["post_id", "created", "id"])
        b.create_index(b.f("ix_audit_fetch_event_seq"), ["event_seq"])
    backfill(op.get_bind())
    for table in _FROZEN:
        for sql in create_statements(op.get_bind().dialect.name, table):
            op.execute(sql)


def downgrade() -> None:
    for table in _FROZEN:
        for sql in drop_statements(op.get_bind().dialect.name, table):
            op.execute(sql)
        op.drop_table(table)
