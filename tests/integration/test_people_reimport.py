"""Importing the same address book again updates it; adding someone whose name is taken asks
(needs --new when nobody can answer) instead of silently making a second person."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.entrypoints.cli import main
from hub.services.people import list_people
from hub.services.people_import import parse_csv, upsert_people

pytestmark = pytest.mark.integration

CSV = ("name,email,mastodon,lists,note\n"
       "Ana,ana@example.org,@ana@example.social,friends,\n"
       "Bo,bo@example.org,,clients,met in Lyon\n")


def hub(*args: str, code: int = 0, input: str | None = None) -> str:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def env(tmp_path: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_POLICY_DIR", str(policy_dir))


def test_reimporting_the_same_csv_updates_instead_of_failing(database_url, make_hub):
    hub_ = make_hub(database_url)
    assert upsert_people(hub_, parse_csv(CSV)) == (2, 0)
    assert upsert_people(hub_, parse_csv(CSV)) == (0, 2)
    changed = CSV.replace("friends,", "friends;family,").replace(
        "Bo,bo@example.org,,", "Bo,bo@example.org bo@work.example,,")
    assert upsert_people(hub_, parse_csv(changed + "Cy,cy@example.org,,,\n")) == (1, 2)
    people = {p.name: (sorted(i.value for i in ids), lists)
              for p, ids, lists in list_people(hub_)}
    assert people == {"Ana": (["@ana@example.social", "ana@example.org"], ["family", "friends"]),
                      "Bo": (["bo@example.org", "bo@work.example"], ["clients"]),
                      "Cy": (["cy@example.org"], [])}


def test_an_entry_whose_identities_belong_to_two_people_refuses_the_whole_file(
        database_url, make_hub):
    hub_ = make_hub(database_url)
    upsert_people(hub_, parse_csv(CSV))
    bad = "name,email\nCy,cy@example.org\nAnabo,ana@example.org bo@example.org\n"
    with pytest.raises(Exception, match="entry 2 .*different people"):
        upsert_people(hub_, parse_csv(bad))
    assert sorted(p.name for p, _, _ in list_people(hub_)) == ["Ana", "Bo"]


def test_cli_reimport_and_add_of_a_taken_name(env, tmp_path):
    hub("init")
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    assert "(2 new, 0 updated)" in hub("people", "import", str(path))
    assert "(0 new, 2 updated)" in hub("people", "import", str(path))
    out = hub("people", "add", "ana", "--email", "ana2@example.org", code=1)
    assert "already exists" in out and "--new" in out
    assert "added ana" in hub("people", "add", "ana", "--new")
    listed = hub("people", "list").splitlines()
    assert len(listed) == 3 and sum(line.split()[1].lower() == "ana" for line in listed) == 2
