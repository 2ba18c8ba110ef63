"""Forwarded headers, against a real ``hub serve``: ignored by default (a client cannot pick a
new address per guess to dodge the login throttle), believed only from HUB_TRUSTED_PROXIES."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.served import HubServe, run_hub
from tests.integration.test_ui_security import PASSWORD, csrf_of

pytestmark = pytest.mark.integration


def _attempt(url: str, password: str, forwarded: dict[str, str]) -> httpx.Response:
    # the form is fetched without X-Forwarded-Proto: this client speaks plain http, so it would
    # not send back a CSRF cookie marked Secure
    address = {"X-Forwarded-For": forwarded["X-Forwarded-For"]}
    with httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/login", headers=address)
        return client.post("/login", headers=forwarded, data={
            "password": password, "next": "/posts", "csrf_token": csrf_of(page.text)})


def _serve_and_guess(env: dict[str, str], log: Path) -> tuple[int, str]:
    """Five wrong guesses, each claiming another address, then the right password from yet
    another: (its status, its session cookie header)."""
    with HubServe(env, log) as hub:
        for i in range(5):
            r = _attempt(hub.url, "not the password", {"X-Forwarded-For": f"203.0.113.{i}"})
            assert r.status_code == 401
        r = _attempt(hub.url, PASSWORD, {"X-Forwarded-For": "198.51.100.1",
                                         "X-Forwarded-Proto": "https"})
        cookie = next((v for k, v in r.headers.multi_items()
                       if k == "set-cookie" and v.startswith("hub_session=")), "")
        return r.status_code, cookie


@pytest.fixture
def hub_env(tmp_path: Path, policy_dir: Path) -> dict[str, str]:
    env = {"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_POLICY_DIR": str(policy_dir)}
    run_hub("init", "--password-stdin", env=env, input=PASSWORD + "\n")
    return env


def test_forwarded_headers_are_ignored_by_default(hub_env, tmp_path):
    status, _ = _serve_and_guess(hub_env, tmp_path / "serve.log")
    assert status == 429            # every guess came from 127.0.0.1, whatever it claimed


def test_forwarded_headers_are_believed_from_a_trusted_proxy(hub_env, tmp_path):
    env = {**hub_env, "HUB_TRUSTED_PROXIES": "127.0.0.1"}
    status, cookie = _serve_and_guess(env, tmp_path / "serve.log")
    assert status == 303            # the proxy's word: five addresses, none locked out
    assert "Secure" in cookie       # and the original scheme was https
