"""RFC 9162 trees, proofs and the standalone verifier (pure: no database)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit import merkle
from hub.audit.verifier import ed25519_verify, verify_consistency, verify_inclusion


def _mth(leaves: list[bytes]) -> bytes:
    """The RFC 9162 definition, recursively, straight from the text."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _tree(n: int) -> tuple[list[bytes], merkle.NodeGetter, merkle.Frontier]:
    leaves = [f"event {i}".encode() for i in range(n)]
    nodes: dict[tuple[int, int], bytes] = {}
    frontier = merkle.Frontier()
    for leaf in leaves:
        for level, idx, h in frontier.add(merkle.leaf_hash(leaf)):
            nodes[(level, idx)] = h
    return leaves, lambda level, idx: nodes[(level, idx)], frontier


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 33])
def test_roots_from_stored_subtrees_and_the_frontier_match_the_definition(n):
    leaves, get, frontier = _tree(n)
    assert merkle.root(get, n) == _mth(leaves) == frontier.root()


def test_every_inclusion_proof_verifies_and_no_other_leaf_or_index_does():
    leaves, get, _ = _tree(21)
    for size in range(1, 22):
        root = _mth(leaves[:size])
        for i in range(size):
            path = merkle.inclusion_proof(get, i, size)
            assert verify_inclusion(merkle.leaf_hash(leaves[i]), i, size, path, root)
            assert not verify_inclusion(merkle.leaf_hash(b"forged"), i, size, path, root)
            if size > 1:
                assert not verify_inclusion(merkle.leaf_hash(leaves[i]), (i + 1) % size,
                                            size, path, root)


def test_every_consistency_proof_verifies_and_a_changed_history_does_not():
    leaves, get, _ = _tree(20)
    other = list(leaves)
    other[2] = b"rewritten"
    for second in range(1, 21):
        for first in range(1, second + 1):
            proof = merkle.consistency_proof(get, first, second)
            old, new = _mth(leaves[:first]), _mth(leaves[:second])
            assert verify_consistency(first, second, old, new, proof), (first, second)
            if first > 2:
                assert not verify_consistency(first, second, _mth(other[:first]), new, proof)
            if second > 2:
                assert not verify_consistency(first, second, old, _mth(other[:second]), proof)


def test_pure_python_ed25519_matches_rfc_8032_and_the_cryptography_library():
    # RFC 8032 section 7.1, TEST 1 (empty message)
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    sig = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    assert ed25519_verify(public, b"", sig)
    assert not ed25519_verify(public, b"x", sig)
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes_raw()
    message = b"hub.example/hub-audit\n42\nAAAA\n"
    good = key.sign(message)
    assert ed25519_verify(pub, message, good)
    for i in (0, 31, 32, 63):
        bad = bytearray(good)
        bad[i] ^= 1
        assert not ed25519_verify(pub, message, bytes(bad))
