"""Database triggers that refuse UPDATE and DELETE on the audit tables (used by migrations)."""

from __future__ import annotations


def create_statements(dialect: str, table: str) -> list[str]:
    """SQL that makes ``table`` append-only on ``dialect`` (sqlite or postgresql)."""
    if dialect == "sqlite":
        return [f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                for verb in ("UPDATE", "DELETE")]
    return [f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"]


def drop_statements(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_update",
                f"DROP TRIGGER IF EXISTS {table}_no_delete"]
    return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"DROP FUNCTION IF EXISTS {table}_append_only()"]
