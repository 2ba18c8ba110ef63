"""Secrets stay out of the log on error paths, against a real ``hub serve`` (and the CLI) on
SQLite and PostgreSQL: the database is made to fail on purpose while a post, a login and a
token are in flight, and the whole log is searched for the post text, the content warning,
the token and the password."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.integration.served import HubServe, run_hub
from tests.integration.test_ui_security import csrf_of

pytestmark = pytest.mark.integration
POST_TEXT = "SECRET-POST-TEXT-about-the-merger-1234"
CW = "SECRET-CW-health-5678"
PASSWORD = "SECRET-PASSWORD-correct-horse-9876"
TABLES = ("post", "login_throttle", "api_token")


def _break(url: str, tables: tuple[str, ...]) -> None:
    """Every INSERT or UPDATE on ``tables`` now fails inside the database."""
    engine = create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for table in tables:
                for op in ("INSERT", "UPDATE"):
                    conn.execute(text(f"CREATE TRIGGER boom_{table}_{op} BEFORE {op} ON "
                                      f"{table} BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"))
        else:
            conn.execute(text("CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                              "RAISE EXCEPTION 'disk on fire'; END $$ LANGUAGE plpgsql"))
            for table in tables:
                conn.execute(text(f"CREATE TRIGGER boom_{table} BEFORE INSERT OR UPDATE ON "
                                  f"{table} FOR EACH ROW EXECUTE FUNCTION boom()"))
    engine.dispose()


def test_no_secret_reaches_the_log_when_the_database_fails(database_url, tmp_path: Path,
                                                           policy_dir: Path):
    env = {"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_POLICY_DIR": str(policy_dir),
           "HUB_DATABASE_URL": database_url}
    out = run_hub("init", "--password-stdin", env=env, input=PASSWORD + "\n").stdout
    token = re.search(r"\bhub_t[0-9a-f]+_[\w-]+", out)
    assert token, out
    secrets = [POST_TEXT, CW, token.group(0), PASSWORD]
    log = tmp_path / "hub.log"
    with HubServe(env, log) as hub:
        auth = {"Authorization": f"Bearer {token.group(0)}"}
        ok = httpx.post(f"{hub.url}/api/posts", headers=auth,
                        json={"text": "fine", "audiences": ["friends"]})
        assert ok.status_code == 202, ok.text
        _break(database_url, TABLES)
        r = httpx.post(f"{hub.url}/api/posts", headers=auth, timeout=30,
                       json={"text": POST_TEXT, "content_warning": CW,
                             "audiences": ["friends"]})
        assert r.status_code == 500 and POST_TEXT not in r.text
        with httpx.Client(base_url=hub.url, timeout=30) as client:
            page = client.get("/login")
            r = client.post("/login", data={"password": PASSWORD, "next": "/posts",
                                            "csrf_token": csrf_of(page.text)})
            assert r.status_code == 500 and PASSWORD not in r.text
    cli = run_hub("post", POST_TEXT, "--cw", CW, "--audience", "friends", env=env, check=False)
    assert cli.returncode != 0
    written = log.read_text(errors="replace") + cli.stdout + cli.stderr
    assert "web.unhandled" in written and "disk on fire" in written   # the errors were logged
    for secret in secrets:
        assert secret not in written, f"{secret[:12]}… reached the log"
