"""Persistence: SQLModel tables, the engine wrapper and repositories (rows <-> domain)."""
