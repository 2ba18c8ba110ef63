"""owner feed link generation: the owner's notice feed link can be replaced

Revision ID: 0022_owner_feed_link
Revises: 0015_contacts_sync
Create Date: 2026-12-01 15:40:00.000000

Additive only: generation 0 keeps the link the owner already has.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_owner_feed_link"
down_revision = "0015_contacts_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("owner") as t:
        t.add_column(sa.Column("feed_generation", sa.Integer(), nullable=False,
                               server_default="0"))


def downgrade() -> None:
    op.drop_column("owner", "feed_generation")
