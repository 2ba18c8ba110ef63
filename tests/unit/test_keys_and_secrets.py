"""Delivery keys (TIDs) and secrets at rest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.crypto import SecretBox, hash_token
from hub.domain.tid import TID_RE, make_tid, offset_tid, tid_parts
from hub.errors import HubError


@given(st.integers(0, 2**53 - 1), st.integers(0, 1023))
def test_tid_round_trips_and_is_valid(micros, clock):
    tid = make_tid(micros, clock)
    assert TID_RE.match(tid)
    assert tid_parts(tid) == (micros, clock)


@given(st.integers(0, 2**52), st.integers(0, 2**52), st.integers(0, 1023))
def test_tids_sort_by_time(a, b, clock):
    assert (make_tid(a, clock) < make_tid(b, clock)) == (a < b)


def test_offset_tid_gives_the_next_keys_of_a_thread():
    root = make_tid(1_732_370_000_000_000, 5)
    assert tid_parts(offset_tid(root, 3)) == (1_732_370_000_000_003, 5)


K1, K2 = "k1 is a long enough passphrase", "k2 is a long enough passphrase"


def test_credentials_are_encrypted_and_need_the_same_key():
    box = SecretBox(K1)
    token = box.encrypt("app-password-1234")
    assert "app-password" not in token
    assert box.decrypt(token) == "app-password-1234"
    with pytest.raises(HubError, match="cannot be decrypted"):
        SecretBox(K2).decrypt(token)
    assert "k1" not in repr(box)


def test_api_tokens_are_stored_as_hashes():
    assert hash_token("hub_x_secret") != "hub_x_secret"
    assert len(hash_token("hub_x_secret")) == 64
