"""The baselines' servers: the least a FastAPI app under uvicorn can do for the same request.

    python -m bench._bare hello PORT               # GET / -> {"hello": "world"}
    python -m bench._bare sqlite PORT DB_PATH      # POST /api/posts -> one SQLite INSERT
    python -m bench._bare postgres PORT URL        # POST /api/posts -> one PostgreSQL INSERT

The INSERT apps parse the same JSON body as the hub (text, audiences) and answer 202 with an
id. SQLite runs with the hub's settings (WAL, synchronous=NORMAL, busy timeout); each
threadpool thread keeps one connection, as a connection pool would.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import uuid
from typing import Any

from pydantic import BaseModel


class PostIn(BaseModel):
    text: str
    audiences: list[str]


def _app(kind: str, where: str) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    if kind == "hello":
        @app.get("/")
        def hello() -> dict[str, str]:
            return {"hello": "world"}

        return app

    local = threading.local()

    def connect() -> Any:
        conn = getattr(local, "conn", None)
        if conn is None:
            if kind == "sqlite":
                conn = sqlite3.connect(where, timeout=30, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            else:
                import psycopg
                conn = psycopg.connect(where, autocommit=True)
            local.conn = conn
        return conn

    insert = ("INSERT INTO bare_post (id, text) VALUES (?, ?)" if kind == "sqlite" else
              "INSERT INTO bare_post (id, text) VALUES (%s, %s)")

    @app.post("/api/posts", status_code=202)
    def post(body: PostIn) -> dict[str, str]:
        pid = uuid.uuid4().hex
        connect().execute(insert, (pid, body.text))
        return {"id": pid, "status": "accepted"}

    return app


def prepare(kind: str, where: str) -> None:
    """Create the baseline's table (called by the benchmark before the server starts)."""
    ddl = "CREATE TABLE IF NOT EXISTS bare_post (id TEXT PRIMARY KEY, text TEXT NOT NULL)"
    if kind == "sqlite":
        with sqlite3.connect(where) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(ddl)
    elif kind == "postgres":
        import psycopg
        with psycopg.connect(where, autocommit=True) as conn:
            conn.execute(ddl)


if __name__ == "__main__":
    import uvicorn

    kind, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(_app(kind, sys.argv[3] if len(sys.argv) > 3 else ""), host="127.0.0.1",
                port=port, log_level="warning", access_log=False)
