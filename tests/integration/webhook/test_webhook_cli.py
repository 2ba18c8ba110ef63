"""`hub accounts add webhook` as a user types it: the secret from stdin or generated once."""

from __future__ import annotations

import pytest

from tests.integration.test_cli import env, hub  # noqa: F401  (the CLI fixture and runner)

pytestmark = pytest.mark.integration


def test_a_generated_secret_is_printed_once_and_never_listed(env):  # noqa: F811
    hub("init")
    out = hub("accounts", "add", "webhook", "site", "--url", "https://hooks.example/hub",
              "--generate-secret")
    assert "connected webhook:site" in out
    secret = out.split("shown again): ", 1)[1].strip()
    assert secret.startswith("whsec_") and len(secret) > 40
    listed = hub("accounts", "list")
    assert "webhook:site" in listed and secret not in listed


def test_a_secret_from_stdin_and_a_bad_one_refused_without_echo(env):  # noqa: F811
    hub("init")
    good = "whsec_" + "A" * 44
    assert "connected webhook:team" in hub("accounts", "add", "webhook", "team", "--url",
                                           "http://127.0.0.1:9/hook", input=good + "\n")
    out = hub("accounts", "add", "webhook", "bad", "--url", "https://x.example/",
              input="whsec_!!not-base64\n", code=1)
    assert "base64" in out and "!!not-base64" not in out
    out = hub("accounts", "add", "webhook", "bad", "--url", "ftp://x.example/",
              input=good + "\n", code=1)
    assert "http:// or https://" in out


def test_people_get_matrix_identities(env):  # noqa: F811
    hub("init")
    assert "added Ana" in hub("people", "add", "Ana", "--matrix", "@ana:example.org")
    assert "not a valid matrix identity" in hub("people", "add", "Bo", "--matrix",
                                                "bo@example.org", code=1)
