"""CSV and vCard parsing: good files become people; a broken row is named, nothing imported."""

from __future__ import annotations

import pytest

from hub.domain.identities import normalise_identity
from hub.domain.model import IdentityKind
from hub.errors import InvalidInput
from hub.services.people_import import parse_csv, parse_vcard


def test_csv_with_several_identities_and_lists():
    people = parse_csv("name,email,mastodon,bluesky,lists\n"
                       "Ana Lima,ana@example.org,@ana@example.social,ana.bsky.social,"
                       "friends;clients\n"
                       "Bo,,,did:plc:abc123,family\n")
    assert [p.name for p in people] == ["Ana Lima", "Bo"]
    assert people[0].identities == [(IdentityKind.EMAIL, "ana@example.org"),
                                    (IdentityKind.MASTODON, "@ana@example.social"),
                                    (IdentityKind.BLUESKY, "ana.bsky.social")]
    assert people[0].lists == ["friends", "clients"]
    assert people[1].identities == [(IdentityKind.BLUESKY, "did:plc:abc123")]


@pytest.mark.parametrize(("data", "message"), [
    ("", "empty"),
    ("nom,email\nAna,a@b.org\n", "columns must be"),
    ("name,email\nAna,a@b.org\nBo,not-an-address\n", "CSV line 3: 'not-an-address' is not a "
                                                       "valid email"),
    ("name,email\n,a@b.org\n", "CSV line 2: name is empty"),
    ("name,lists\nAna,Bad List!\n", "CSV line 2: list name"),
    ("name,email\nAna,a@b.org,extra\n", "CSV line 2: more fields than columns"),
    ("name,mastodon\nAna,ana@\n", "not a valid mastodon identity"),
])
def test_csv_errors_name_the_line(data, message):
    with pytest.raises(InvalidInput, match=message):
        parse_csv(data)


def test_vcard_import():
    people = parse_vcard(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ana Lima\r\nEMAIL:ana@example.org\r\n"
        "X-MASTODON:@ana@example.social\r\nCATEGORIES:Friends,clients\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bo\r\nX-BLUESKY:bo.example.com\r\nEND:VCARD\r\n")
    assert [p.name for p in people] == ["Ana Lima", "Bo"]
    assert people[0].lists == ["friends", "clients"]
    assert people[1].identities == [(IdentityKind.BLUESKY, "bo.example.com")]


@pytest.mark.parametrize(("data", "message"), [
    ("BEGIN:VCARD\r\nVERSION:3.0\r\nEMAIL:x@y.org\r\nEND:VCARD\r\n", "no FN"),
    ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ana\r\nEMAIL:nope\r\nEND:VCARD\r\n",
     r"vCard #1 \(Ana\): 'nope' is not a valid email"),
    ("hello", "could not be read|no vCard"),
])
def test_vcard_errors(data, message):
    with pytest.raises(InvalidInput, match=message):
        parse_vcard(data)


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("email", " Ana@Example.ORG ", "ana@example.org"),
    ("mastodon", "ana@example.social", "@ana@example.social"),
    ("bluesky", "@Ana.bsky.social", "ana.bsky.social"),
    ("bluesky", "did:plc:z72i7hdynmk6r22z27h6tvur", "did:plc:z72i7hdynmk6r22z27h6tvur"),
])
def test_identities_are_normalised(kind, value, expected):
    assert normalise_identity(kind, value)[1] == expected


@pytest.mark.parametrize(("filename", "data", "expected"), [
    ("people.vcf", "name\nAna\n", "vcard"),
    ("PEOPLE.VCARD", "", "vcard"),
    ("upload", "  begin:vcard\nFN:Ana\nEND:VCARD\n", "vcard"),
    ("people.csv", "name,email\nAna,ana@example.org\n", "csv"),
    ("", "name\nAna\n", "csv"),
])
def test_one_sniff_tells_csv_from_vcard(filename, data, expected):
    from hub.services.people_import import sniff_format

    assert sniff_format(filename, data) == expected


def test_csv_cells_a_spreadsheet_would_run_are_escaped_and_come_back_exact() -> None:
    from hub.services.csv_cells import csv_cell, csv_uncell

    for value in ("=1+1", "+cmd", "-2", "@ana@example.social", "\tx", "'=quoted", "''",
                  "'Tis", "plain", "", "'"):
        cell = csv_cell(value)
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
        assert csv_uncell(cell) == value
    assert csv_uncell("'Tis") == "'Tis"      # a file from elsewhere keeps its apostrophe
