"""contact relationships and sync cursors

Revision ID: 0010_contacts
Revises: 0007_perf
Create Date: 2026-12-01 10:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.store.tables

revision = "0010_contacts"
down_revision = "0007_perf"
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_TS = hub.store.tables.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "contact_relationship",
        sa.Column("account", _S(length=100), nullable=False),
        sa.Column("kind", _S(length=16), nullable=False),
        sa.Column("address", _S(length=300), nullable=False),
        sa.Column("remote_id", _S(length=200), nullable=False),
        sa.Column("display_name", _S(length=200), nullable=False),
        sa.Column("follows_me", sa.Boolean(), nullable=False),
        sa.Column("i_follow", sa.Boolean(), nullable=False),
        sa.Column("follows_me_since", _TS(), nullable=True),
        sa.Column("i_follow_since", _TS(), nullable=True),
        sa.Column("follower_lost", _TS(), nullable=True),
        sa.Column("following_lost", _TS(), nullable=True),
        sa.Column("followers_run", _S(length=32), nullable=True),
        sa.Column("following_run", _S(length=32), nullable=True),
        sa.Column("first_seen", _TS(), nullable=False),
        sa.PrimaryKeyConstraint("account", "kind", "address"),
    )
    op.create_index("ix_contact_relationship_identity", "contact_relationship",
                    ["kind", "address"])
    op.create_table(
        "contact_sync",
        sa.Column("account", _S(length=100), nullable=False),
        sa.Column("direction", _S(length=16), nullable=False),
        sa.Column("run", _S(length=32), nullable=True),
        sa.Column("cursor", _S(length=500), nullable=True),
        sa.Column("status", _S(length=16), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("started", _TS(), nullable=True),
        sa.Column("finished", _TS(), nullable=True),
        sa.Column("retry_after", _TS(), nullable=True),
        sa.PrimaryKeyConstraint("account", "direction"),
    )


def downgrade() -> None:
    op.drop_table("contact_sync")
    op.drop_index("ix_contact_relationship_identity", table_name="contact_relationship")
    op.drop_table("contact_relationship")
