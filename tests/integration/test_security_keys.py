"""The secret key: weak ones are refused, and an install made before subkeys keeps working
(its credentials re-encrypted, its feed links resolving) or, after a key change, is told
exactly which feed links to hand out again. The "before" databases are written here the way
the hub wrote them then: schema 0002, the raw key as the feed-link MAC key, and Fernet over
sha256("hub-credentials:" + key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from alembic import command
from cryptography.fernet import Fernet, InvalidToken
from pydantic import ValidationError
from sqlalchemy import MetaData, create_engine, select

from hub.config import Settings
from hub.crypto import SecretBox
from hub.store.migrate import alembic_config
from tests.integration.served import HubServe, run_hub

pytestmark = pytest.mark.integration
SMTP_PASSWORD = "smtp-app-password-4242"
STRONG = [secrets.token_urlsafe(32), base64.b64encode(secrets.token_bytes(32)).decode(),
          secrets.token_hex(32), "correct horse battery staple, orbiting Lisbon"]
WEAK = ["password", "12345", "hunter2hunter2", "a" * 40, "abcabcabcabcabcabcabcabcabcabc",
        secrets.token_urlsafe(16)]


def _legacy_fernet(key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"hub-credentials:" +
                                                          key.encode()).digest()))


def _legacy_feed_token(key: str, feed: str, person_id: str, generation: int = 1) -> str:
    mac = hmac.new(key.encode(), f"feed:{feed}:{person_id}:{generation}".encode(),
                   hashlib.sha256).digest()
    return f"{person_id}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')[:32]}"


def _old_install(data: Path, key: str, people: dict[str, str]) -> str:
    """A hub database as the code before 0005 left it; returns its SQLite URL."""
    data.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data / 'hub.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    meta = MetaData()
    meta.reflect(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(t["people_list"].insert(), [{"name": "friends", "description": "",
                                                  "created": now}])
        for pid, name in people.items():
            conn.execute(t["person"].insert(), [{"id": pid, "name": name, "note": "",
                                                 "created": now}])
            conn.execute(t["list_member"].insert(), [{"list_name": "friends", "person_id": pid,
                                                      "added": now}])
            conn.execute(t["feed_member"].insert(), [{"feed": "friends", "person_id": pid,
                                                      "generation": 1, "revoked": None}])
        conn.execute(t["account"].insert(), [{
            "name": "email:personal", "platform": "email", "status": "ok",
            "status_reason": "", "updated": now,
            "settings": {"host": "127.0.0.1", "port": 2525, "security": "none",
                         "from_addr": "me@example.org", "username": "me"},
            "secret_enc": _legacy_fernet(key).encrypt(SMTP_PASSWORD.encode()).decode()}])
    engine.dispose()
    return url


def _stored_secret(url: str) -> str:
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        value = conn.execute(select(meta.tables["account"].c.secret_enc)).scalar_one()
    engine.dispose()
    return str(value)


def _links(out: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in
            re.finditer(r"^\s*(\w+)\s.*?(http\S+/feeds/friends\.atom\?token=\S+)", out, re.M)}


@pytest.mark.parametrize("weak", WEAK)
def test_a_weak_secret_key_is_refused_with_a_reason(weak, tmp_path, policy_dir):
    with pytest.raises(ValidationError, match="too weak"):
        Settings(secret_key=weak)
    env = {"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_POLICY_DIR": str(policy_dir),
           "HUB_SECRET_KEY": weak}
    done = run_hub("init", env=env, check=False)
    assert done.returncode == 1 and "too weak" in done.stdout + done.stderr
    assert weak not in done.stdout + done.stderr
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / "secret.key").write_text(weak + "\n")   # a hand-written key file
    env.pop("HUB_SECRET_KEY")
    done = run_hub("init", env=env, check=False)
    assert done.returncode == 1 and "too weak" in done.stdout + done.stderr


@pytest.mark.parametrize("strong", STRONG)
def test_random_keys_and_long_passphrases_are_accepted(strong):
    assert Settings(secret_key=strong).secret_key is not None
    box = SecretBox(strong)
    message = "friends:p_ana:1"
    feed, session = box.sign("feed", message), box.sign("csrf", message)
    assert feed != session                               # one subkey per purpose
    raw = hmac.new(strong.encode(), f"feed:{message}".encode(), hashlib.sha256).digest()
    assert feed != base64.urlsafe_b64encode(raw).decode().rstrip("=")[:32]   # not the raw key


def test_an_install_from_before_keeps_its_credentials_and_feed_links(tmp_path, policy_dir):
    data = tmp_path / "var"
    key = secrets.token_urlsafe(32)             # what `hub init` wrote to var/secret.key
    url = _old_install(data, key, {"p_ana": "Ana"})
    (data / "secret.key").write_text(key + "\n")
    old_link = _legacy_feed_token(key, "friends", "p_ana")
    env = {"HUB_DATA_DIR": str(data), "HUB_POLICY_DIR": str(policy_dir)}
    out = run_hub("db", "upgrade", env=env).stdout
    assert "re-encrypted 1 stored credential" in out and "hand out" not in out
    stored = _stored_secret(url)
    with pytest.raises(InvalidToken):
        _legacy_fernet(key).decrypt(stored.encode())     # no longer under the old derivation
    box = SecretBox(key)
    assert box.current(stored) and box.decrypt(stored) == SMTP_PASSWORD
    assert "re-encrypted" not in run_hub("db", "upgrade", env=env).stdout   # done once
    links = _links(run_hub("feeds", "links", "friends", env=env).stdout)
    assert links["Ana"].endswith(f"token={old_link}")     # the same link as before
    with HubServe(env, tmp_path / "serve.log") as hub:
        feed = httpx.get(f"{hub.url}/feeds/friends.atom", params={"token": old_link})
        assert feed.status_code == 200 and b"<feed" in feed.content
        assert "hand out" not in hub.log()


def test_replacing_a_weak_key_re_encrypts_and_names_the_links_to_hand_out_again(
        tmp_path, policy_dir):
    data = tmp_path / "var"
    weak = "password"
    url = _old_install(data, weak, {"p_ana": "Ana", "p_bo": "Bo"})
    env = {"HUB_DATA_DIR": str(data), "HUB_POLICY_DIR": str(policy_dir), "HUB_SECRET_KEY": weak}
    refused = run_hub("db", "upgrade", env=env, check=False)
    assert refused.returncode == 1 and "HUB_PREVIOUS_SECRET_KEY" in refused.stderr
    new = secrets.token_urlsafe(32)
    out = run_hub("db", "upgrade", env={**env, "HUB_SECRET_KEY": new,
                                        "HUB_PREVIOUS_SECRET_KEY": weak}).stdout
    assert "re-encrypted 1 stored credential" in out
    assert "feed friends: Ana" in out and "feed friends: Bo" in out
    assert SecretBox(new).decrypt(_stored_secret(url)) == SMTP_PASSWORD
    env = {**env, "HUB_SECRET_KEY": new}
    assert "hand out" not in run_hub("db", "upgrade", env=env).stdout   # told once
    links = _links(run_hub("feeds", "links", "friends", env=env).stdout)
    assert set(links) == {"Ana", "Bo"}
    with HubServe(env, tmp_path / "serve.log") as hub:
        for person in ("p_ana", "p_bo"):                  # old and forged links are dead
            token = _legacy_feed_token(weak, "friends", person)
            for generation in (1, 2):
                forged = _legacy_feed_token(weak, "friends", person, generation)
                for t in (token, forged):
                    r = httpx.get(f"{hub.url}/feeds/friends.atom", params={"token": t})
                    assert r.status_code == 404
        for link in links.values():
            assert httpx.get(link.replace("http://127.0.0.1:8000", hub.url)).status_code == 200
