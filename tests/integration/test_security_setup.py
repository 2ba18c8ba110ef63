"""First run and DNS rebinding, against a real ``hub serve``: only the hub's own host names are
answered, and the first-visit password form needs the code that ``hub init`` printed."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.integration.served import HubServe, run_hub
from tests.integration.test_ui_security import PASSWORD, csrf_of

pytestmark = pytest.mark.integration


@pytest.fixture
def hub_env(tmp_path: Path, policy_dir: Path) -> dict[str, str]:
    return {"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_POLICY_DIR": str(policy_dir)}


def test_a_rebound_host_name_is_refused_on_every_request(hub_env, tmp_path):
    """A page on attacker.example, whose DNS now says 127.0.0.1, gets nothing from the hub."""
    run_hub("init", env=hub_env)
    with HubServe(hub_env, tmp_path / "serve.log") as hub:
        evil = {"Host": f"attacker.example:{hub.port}", "Origin": "http://attacker.example"}
        for path in ["/setup", "/login", "/healthz", "/api/posts", "/feeds/friends.atom?token=x",
                     "/static/hub.css", "/openapi.json"]:
            r = httpx.get(hub.url + path, headers=evil)
            assert r.status_code == 400, path
            assert "HUB_ALLOWED_HOSTS" in r.text, path
        r = httpx.post(hub.url + "/setup", headers=evil,
                       data={"password": PASSWORD, "password_again": PASSWORD})
        assert r.status_code == 400
        for own in (f"127.0.0.1:{hub.port}", f"localhost:{hub.port}", "localhost",
                    f"[::1]:{hub.port}"):
            assert httpx.get(hub.url + "/setup", headers={"Host": own}).status_code == 200, own


def test_allowed_hosts_and_the_public_url_host_are_answered(hub_env, tmp_path):
    env = {**hub_env, "HUB_ALLOWED_HOSTS": "hub.example.org, Other.Example",
           "HUB_PUBLIC_URL": "https://feeds.example.net"}
    run_hub("init", env=env)
    with HubServe(env, tmp_path / "serve.log") as hub:
        for name, status in [("hub.example.org", 200), ("other.example:443", 200),
                             ("FEEDS.example.net", 200), ("example.org", 400),
                             ("hub.example.org.attacker.example", 400), ("", 400)]:
            r = httpx.get(hub.url + "/healthz", headers={"Host": name})
            assert r.status_code == status, name


def test_first_visit_setup_needs_the_code_that_hub_init_printed(hub_env, tmp_path):
    out = run_hub("init", env=hub_env).stdout
    found = re.search(r"/setup\?code=([A-Za-z0-9_-]{16,})", out)
    assert found, out
    code = found.group(1)
    with HubServe(hub_env, tmp_path / "serve.log") as hub, \
            httpx.Client(base_url=hub.url) as client:
        csrf = csrf_of(client.get("/setup").text)
        form = {"password": PASSWORD, "password_again": PASSWORD, "csrf_token": csrf}
        for sent in ({}, {"code": ""}, {"code": code[:-1] + ("A" if code[-1] != "A" else "B")}):
            r = client.post("/setup", data={**form, **sent})
            assert r.status_code == 403, sent
            assert "set-up code" in r.text
        assert client.get("/login").headers["location"] == "/setup"   # still no password
        page = client.get(f"/setup?code={code}")
        assert f'value="{code}"' in page.text                        # the printed link fills it
        r = client.post("/setup", data={**form, "code": code})
        assert r.status_code == 303 and r.headers["location"] == "/compose"
        assert client.get("/posts").status_code == 200               # logged in by setting it
        client.cookies.clear()
        login = client.get("/login")
        r = client.post("/login", data={"password": PASSWORD, "next": "/posts",
                                        "csrf_token": csrf_of(login.text)})
        assert r.status_code == 303 and r.headers["location"] == "/posts"
        again = client.post("/setup", data={**form, "code": code,
                                            "csrf_token": csrf_of(client.get("/posts").text)})
        assert again.status_code in (401, 403)                        # used up
    assert "/setup?code=" not in run_hub("init", env=hub_env).stdout


def test_hub_config_documents_every_setting_and_hides_secrets(hub_env):
    key = "correct horse battery staple, orbiting Lisbon"
    out = run_hub("config", env={**hub_env, "HUB_SECRET_KEY": key,
                                 "HUB_ALLOWED_HOSTS": "hub.example.org"}).stdout
    for name in ("HUB_ALLOWED_HOSTS = hub.example.org", "HUB_TRUSTED_PROXIES = (empty)",
                 "HUB_SESSION_IDLE_HOURS = 12.0", "HUB_SECRET_KEY = (set)",
                 "HUB_PREVIOUS_SECRET_KEY = (unset)", "DNS-rebinding", "argon2id"):
        assert name in out, name
    assert key not in out
