"""contact sync: profile links, run figures and errors, ignored identities

Revision ID: 0015_contacts_sync
Revises: 0019_draft_threads
Create Date: 2026-12-01 12:20:00.000000

Additive only: existing relationships get empty link lists and zero figures.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.store.tables

revision = "0015_contacts_sync"
down_revision = "0019_draft_threads"
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_TS = hub.store.tables.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("contact_relationship") as t:
        t.add_column(sa.Column("links", sa.JSON(), nullable=False, server_default="[]"))
        t.add_column(sa.Column("links_verified", sa.JSON(), nullable=False,
                               server_default="[]"))
    with op.batch_alter_table("contact_sync") as t:
        t.add_column(sa.Column("new", sa.Integer(), nullable=False, server_default="0"))
        t.add_column(sa.Column("lost", sa.Integer(), nullable=False, server_default="0"))
        t.add_column(sa.Column("error", _S(length=500), nullable=False, server_default=""))
        t.add_column(sa.Column("updated", _TS(), nullable=True))
    op.create_table(
        "contact_ignored",
        sa.Column("kind", _S(length=16), nullable=False),
        sa.Column("address", _S(length=300), nullable=False),
        sa.Column("ignored", _TS(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "address"),
    )


def downgrade() -> None:
    op.drop_table("contact_ignored")
    with op.batch_alter_table("contact_sync") as t:
        t.drop_column("updated")
        t.drop_column("error")
        t.drop_column("lost")
        t.drop_column("new")
    with op.batch_alter_table("contact_relationship") as t:
        t.drop_column("links_verified")
        t.drop_column("links")
