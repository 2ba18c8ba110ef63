"""The compose preview says where the policy found a tag or a mention (a real hub on SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.services.people import NewPerson, add_person
from hub.services.posts import PostInput
from hub.services.preview import preview_post
from hub.store.tables import AccountRow

pytestmark = pytest.mark.integration


def test_preview_names_the_tag_typed_in_the_text_and_what_it_changes(make_hub, sqlite_url):
    hub = make_hub(sqlite_url)
    preview = preview_post(hub, PostInput(text="Sunday lunch at mum's #Private",
                                          audiences=["public"]))
    bsky = next(t for t in preview.targets if t.target == "bsky")
    assert bsky.outcome == "deny" and bsky.rule_ids == ("private-stays-home",)
    assert bsky.reasons[0].endswith("Found #Private in the text.")
    assert ("The tag #Private in the text stops it going to bsky (it would otherwise be sent); "
            "rule private-stays-home.") in preview.warnings


def test_preview_of_a_tag_in_the_content_warning(make_hub, sqlite_url):
    hub = make_hub(sqlite_url)
    preview = preview_post(hub, PostInput(text="boarding now", content_warning="#Work trip",
                                          audiences=["public"]))
    bsky = next(t for t in preview.targets if t.target == "bsky")
    assert bsky.outcome == "hold"
    assert bsky.reasons[0].endswith("Found #Work in the content warning.")
    assert any(w.startswith("The tag #Work in the content warning holds for approval bsky")
               for w in preview.warnings)


MENTION_POLICY = """\
version: 1
accounts: [bluesky:me, mastodon:main]
targets:
  bsky: {account: bluesky:me}
  masto-public: {account: mastodon:main, visibility: public}
audiences:
  public: {reach: world, targets: [bsky, masto-public]}
rules:
  - id: review-client-mentions
    hold: {mentions_member_of: [clients]}
"""


def test_a_bare_mention_of_a_clients_user_name_is_held_everywhere(make_hub, sqlite_url,
                                                                  policy_dir):
    """"@ana" may be ana@ any instance: without knowing better the hub holds it (fails
    closed), and names the client it may be."""
    (policy_dir / "hub.yaml").write_text(MENTION_POLICY)
    hub = make_hub(sqlite_url)
    add_person(hub, NewPerson("Ana", [("mastodon", "@ana@example.social")], ["clients"]))
    preview = preview_post(hub, PostInput(text="thanks @ana", audiences=["public"]))
    assert {t.target: t.outcome for t in preview.targets} == {"masto-public": "hold",
                                                              "bsky": "hold"}
    bsky = next(t for t in preview.targets if t.target == "bsky")
    assert bsky.reasons[0].endswith("Found @ana in the text (Ana, in clients).")


@pytest.mark.parametrize(("domain", "on_mastodon"), [("example.social", "hold"),
                                                     ("other.social", "allow")])
def test_a_bare_mention_is_a_user_of_the_instance_the_account_is_on(
        make_hub, sqlite_url, policy_dir, domain, on_mastodon):
    """Once the Mastodon account is connected, @ana there is ana@<its instance>; on Bluesky
    it may still be any ana: held."""
    (policy_dir / "hub.yaml").write_text(MENTION_POLICY)
    hub = make_hub(sqlite_url)
    add_person(hub, NewPerson("Ana", [("mastodon", "@ana@example.social")], ["clients"]))
    with hub.db.transaction() as s:
        s.add(AccountRow(name="mastodon:main", platform="mastodon",
                         settings={"instance": f"https://{domain}", "domain": domain},
                         updated=datetime.now(UTC)))
    preview = preview_post(hub, PostInput(text="thanks @ana", audiences=["public"]))
    assert {t.target: t.outcome for t in preview.targets} == {"masto-public": on_mastodon,
                                                              "bsky": "hold"}
