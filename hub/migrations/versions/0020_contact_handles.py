"""contact_relationship.handle: the verified Bluesky handle a DID had at its last sync

Revision ID: 0020_contact_handles
Revises: 0023_variant_edits
Create Date: 2026-12-01 15:40:00.000000

Relationships stay keyed by DID; the handle lets a person filed by handle match them
(``hub.store.contact_tables.held_by``). A changed handle can move someone into or out of a
rule list, so it bumps ``people_version`` like a change of a side of the follow (the triggers
of ``0016_rule_lists`` are replaced by ones that also watch ``handle``). Existing rows get
NULL: the next sync reads their handles.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0020_contact_handles"
down_revision = "0023_variant_edits"
branch_labels = None
depends_on = None

_TABLE = "contact_relationship"
_SIDES = ("OLD.follows_me IS NOT NEW.follows_me OR OLD.i_follow IS NOT NEW.i_follow "
          "OR OLD.follows_me_since IS NOT NEW.follows_me_since "
          "OR OLD.i_follow_since IS NOT NEW.i_follow_since")
_WITH_HANDLE = _SIDES + " OR OLD.handle IS NOT NEW.handle"


def _update_trigger(changed: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS people_version_{_TABLE}_update")
        op.execute(f"CREATE TRIGGER people_version_{_TABLE}_update AFTER UPDATE ON {_TABLE} "
                   f"WHEN {changed} BEGIN UPDATE people_version SET n = n + 1 WHERE id = 1; "
                   "END")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS people_version_bump_changed ON {_TABLE}")
        changed = changed.replace("IS NOT", "IS DISTINCT FROM")
        op.execute(f"CREATE TRIGGER people_version_bump_changed AFTER UPDATE ON {_TABLE} "
                   f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION people_version_bump()")


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy): SQLite keeps the table, and so its triggers.
    op.add_column(_TABLE, sa.Column("handle", sqlmodel.sql.sqltypes.AutoString(length=253),
                                    nullable=True))
    op.create_index("ix_contact_relationship_handle", _TABLE, ["kind", "handle"])
    _update_trigger(_WITH_HANDLE)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:   # the batch copy below drops the table's triggers: put 0016's back after
        for verb in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS people_version_{_TABLE}_{verb}")
    else:        # PostgreSQL refuses to drop a column a trigger's WHEN reads
        _update_trigger(_SIDES)
    op.drop_index("ix_contact_relationship_handle", table_name=_TABLE)
    with op.batch_alter_table(_TABLE) as t:
        t.drop_column("handle")
    if sqlite:
        for verb in ("INSERT", "DELETE"):
            op.execute(f"CREATE TRIGGER people_version_{_TABLE}_{verb.lower()} AFTER {verb} ON "
                       f"{_TABLE} BEGIN UPDATE people_version SET n = n + 1 WHERE id = 1; END")
        _update_trigger(_SIDES)
