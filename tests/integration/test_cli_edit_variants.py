"""``hub edit --variant NETWORK=FILE`` / ``--no-variant NETWORK``: the preview says per copy which
text it would carry; a denied tag typed only in the Bluesky file stops Bluesky only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import env, hub

pytestmark = pytest.mark.integration
__all__ = ["env"]


def test_edit_a_variant_from_the_cli(env, tmp_path: Path):
    hub("init")
    short = tmp_path / "short.txt"
    short.write_text("Short for Bluesky\n")
    made = json.loads(hub("post", "The long main text", "--audience", "public",
                          "--variant", f"bluesky={short}", "--json"))
    post_id = made["id"]
    (tmp_path / "private.txt").write_text("Short #private")
    preview = hub("edit", post_id, "--variant", f"bluesky={tmp_path / 'private.txt'}",
                  input="n\n")
    assert "[the bluesky variant]" in preview and "[the main text]" in preview
    assert "Nothing changed." in preview
    plan = json.loads(hub("edit", post_id, "--variant", f"bluesky={tmp_path / 'private.txt'}",
                          "--json"))
    assert {c["target"]: c["action"] for c in plan["copies"]} == {"bsky": "cancel",
                                                                  "masto-public": "none"}
    thread = tmp_path / "thread.txt"
    thread.write_text("one\n---\ntwo\n")
    assert "cannot make a thread" in hub("edit", post_id, "--variant", f"bluesky={thread}",
                                         "--yes", code=1)
    out = hub("edit", post_id, "--no-variant", "bluesky", "--json")
    assert json.loads(out)["changed"] == ["variants.bluesky"]
    hub("edit", post_id, "--no-variant", "bluesky", "--yes")
    status = json.loads(hub("edit-status", post_id, "--json"))
    assert {c["target"]: c["latest_version"] for c in status["copies"]} == {
        "bsky": 2, "masto-public": 2}
    assert "no variant for 'bluesky' to remove" in hub("edit", post_id, "--no-variant",
                                                       "bluesky", "--yes", code=1)
