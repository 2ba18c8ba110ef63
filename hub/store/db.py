"""The engine and transactions. SQLite writers take the lock up front (BEGIN IMMEDIATE) so the
audit chain and delivery claims serialise; PostgreSQL serialises audit appends with an advisory
lock taken inside ``AuditLog.append``.

Guards at the database boundary, for every way in (API, pages, CLI, workers): bound parameters
never appear in error messages (``hide_parameters``: they hold post text and secrets), a text
value with a NUL character (which PostgreSQL cannot hold) or longer than its column is refused
with ``InvalidInput`` before it reaches the database, and a SQLite file, its WAL and shared
memory files are readable by the owner only (0600).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlmodel import Session

from hub.errors import InvalidInput


def private_sqlite_file(url: str) -> None:
    """Create the SQLite file (and its directory) owner-only, or narrow an existing one."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    path = Path(database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)   # SQLite gives its -wal/-shm files the database file's mode


def _nul_in(params: Any) -> bool:
    if isinstance(params, str):
        return "\x00" in params
    if isinstance(params, dict):
        params = params.values()
    elif not isinstance(params, list | tuple):
        return False
    for value in params:   # flat loop: this runs for every statement the hub sends
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict | list | tuple) and _nul_in(value):
            return True
    return False


def _refuse_nul(_conn: Any, _cursor: Any, _statement: str, params: Any, _context: Any,
                _executemany: bool) -> None:
    if _nul_in(params):
        raise InvalidInput("text may not contain a NUL character (\\0)")


def _check_lengths(session: Session, _context: Any, _instances: Any) -> None:
    """Text longer than its column gets a readable refusal (PostgreSQL would fail the whole
    statement; SQLite would store it), naming the field."""
    for obj in [*session.new, *session.dirty]:
        mapper = inspect(obj).mapper
        for column in mapper.columns:
            length = getattr(column.type, "length", None)   # String and SQLModel's AutoString
            if not isinstance(length, int) or not length:
                continue
            value = getattr(obj, mapper.get_property_by_column(column).key, None)
            if isinstance(value, str) and len(value) > length:
                raise InvalidInput(f"{column.name} may have at most {length} characters "
                                   f"(this one has {len(value)})", field=column.name)


def _limits(table: Table) -> tuple[tuple[str, int], ...]:
    limits = _LIMITS.get(table.name)
    if limits is None:
        lengths = ((c.name, getattr(c.type, "length", None)) for c in table.columns)
        limits = _LIMITS[table.name] = tuple(
            (name, n) for name, n in lengths if isinstance(n, int) and n)
    return limits


_LIMITS: dict[str, tuple[tuple[str, int], ...]] = {}


def check_lengths(table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
    """The guard of ``_check_lengths`` for rows written with a Core ``INSERT`` (the hot
    paths write without ORM objects): a text longer than its column is ``InvalidInput``."""
    limits = _limits(table)
    for row in rows:
        for name, length in limits:
            value = row.get(name)
            if isinstance(value, str) and len(value) > length:
                raise InvalidInput(f"{name} may have at most {length} characters "
                                   f"(this one has {len(value)})", field=name)


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    """Create the engine for ``url`` (sqlite:/// or postgresql+psycopg://).

    PostgreSQL connections stay open in a pool of ``pool_size`` (sized by the caller to the
    threads that use it at once), without a ping before each use: a connection the server
    closed fails its statement and is replaced, and none lives longer than an hour."""
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               hide_parameters=True)
        event.listen(engine, "before_cursor_execute", _refuse_nul)

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
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                           pool_recycle=3600, hide_parameters=True)
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


class Database:
    """Owns the engine; hands out sessions whose ``commit`` ends one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._readonly = engine.execution_options(hub_readonly=True)
        # SQLite has one writer at a time, and a waiting writer sleeps in its busy handler
        # (1, 2, 5 … 100 ms steps) however soon the lock is free: writers of this process
        # queue here instead and start the moment it is. Other processes still use the busy
        # timeout. Re-entrant, so a thread nesting transactions waits on SQLite as before.
        self._writers: threading.RLock | None = (
            threading.RLock() if engine.dialect.name == "sqlite" else None)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any exception."""
        with self._writers or nullcontext(), Session(self.engine, expire_on_commit=False) \
                as session:
            event.listen(session, "before_flush", _check_lengths)
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
