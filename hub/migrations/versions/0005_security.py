"""feed links remember how their token was minted

Rows that exist before this revision hold links minted with the raw secret key (scheme 1);
they keep resolving. Rows created afterwards use the feed-links subkey (scheme 2).

Revision ID: 0005_security
Revises: 0002
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_security"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheme", sa.Integer(), nullable=False,
                                      server_default="1"))
    with op.batch_alter_table("feed_member", schema=None) as batch_op:
        batch_op.alter_column("scheme", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("feed_member", schema=None) as batch_op:
        batch_op.drop_column("scheme")
