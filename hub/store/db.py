"""The engine and transactions. SQLite writers take the lock up front (BEGIN IMMEDIATE) so the
audit chain and delivery claims serialise; PostgreSQL serialises audit appends with an advisory
lock taken inside ``AuditLog.append``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """Create the engine for ``url`` (sqlite:/// or postgresql+psycopg://)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None   # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            readonly = conn.get_execution_options().get("hub_readonly", False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)


class Database:
    """Owns the engine; hands out sessions whose ``commit`` ends one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._readonly = engine.execution_options(hub_readonly=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any exception."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work: no write lock on SQLite, never commits."""
        with Session(self._readonly, expire_on_commit=False) as session:
            yield session   # closing ends the transaction without expiring loaded rows

    def dispose(self) -> None:
        self.engine.dispose()
