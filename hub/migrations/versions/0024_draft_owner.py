"""saved_draft.token_id: a saved draft belongs to the token that saved it, not to its name

Revision ID: 0024_draft_owner
Revises: 0022_owner_feed_link
Create Date: 2026-12-01 16:10:00.000000

Before this a draft belonged to ``author`` ("token:<name>"), and a name may be used again once
its token is revoked, so a new token inherited the old one's drafts. Existing drafts go to the
token that sees them today: the live token of that name (the newest, if an old database has
two), else the newest revoked one. The owner's drafts keep NULL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_draft_owner"
down_revision = "0022_owner_feed_link"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("saved_draft") as t:
        t.add_column(sa.Column("token_id", sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE saved_draft SET token_id = (SELECT t.id FROM api_token t "
        "WHERE 'token:' || t.name = saved_draft.author "
        "ORDER BY CASE WHEN t.revoked IS NULL THEN 0 ELSE 1 END, t.created DESC, t.id DESC "
        "LIMIT 1) WHERE author LIKE 'token:%'")


def downgrade() -> None:
    with op.batch_alter_table("saved_draft") as t:
        t.drop_column("token_id")
