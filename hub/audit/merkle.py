"""RFC 9162 Merkle tree computations over stored complete subtrees (pure; no database).

The tree is kept as the hashes of its *complete, aligned* subtrees: ``(level, index)`` covers
leaves ``[index * 2**level, (index + 1) * 2**level)``. Every hash RFC 9162 needs for a root,
an inclusion proof or a consistency proof is such a node or is folded from O(log n) of them.
Hashing itself is the verifier's (``hub.audit.verifier``), so the hub and anyone checking its
proofs share one definition.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.audit.verifier import leaf_hash, node_hash

__all__ = ["EMPTY_ROOT", "Frontier", "NodeGetter", "consistency_proof", "inclusion_proof",
           "leaf_hash", "node_hash", "root", "subtree"]

NodeGetter = Callable[[int, int], bytes]
"""``get(level, index)`` -> the hash of a complete, aligned subtree (KeyError if absent)."""

EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree(get: NodeGetter, start: int, end: int) -> bytes:
    """MTH(D[start:end]) per RFC 9162 section 2.1.1."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        return get(n.bit_length() - 1, start // n)
    k = _split(n)
    return node_hash(subtree(get, start, start + k), subtree(get, start + k, end))


def root(get: NodeGetter, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree(get, 0, size)


def inclusion_proof(get: NodeGetter, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) per RFC 9162 section 2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            path.append(subtree(get, start + k, end))
            end = start + k
        else:
            path.append(subtree(get, start, start + k))
            start, m = start + k, m - k
    return path[::-1]


def consistency_proof(get: NodeGetter, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]) per RFC 9162 section 2.1.4.1."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first in (0, second):
        return []
    path: list[bytes] = []
    start, end, m, whole = 0, second, first, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                path.append(subtree(get, start, end))
            break
        k = _split(n)
        if m <= k:
            path.append(subtree(get, start + k, end))
            end = start + k
        else:
            path.append(subtree(get, start, start + k))
            start, m, whole = start + k, m - k, False
    return path[::-1]


class Frontier:
    """The right edge of a growing tree: one hash per complete subtree at the end.

    ``add`` returns every node that became complete (the leaf first), so a caller can store or
    check them; ``root`` folds the edge. Memory is O(log n) whatever the tree size."""

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[tuple[int, bytes]] = []   # (level, hash), highest level first

    @classmethod
    def resume(cls, size: int, hashes: list[bytes], levels: list[int]) -> Frontier:
        """The edge of a stored tree of ``size`` leaves, from its complete subtrees' hashes
        (``levels`` the set bits of ``size``, highest first, as the tree stores them)."""
        if sum(1 << lv for lv in levels) != size or len(hashes) != len(levels):
            raise ValueError(f"those subtrees do not make a tree of {size}")
        f = cls()
        f.size = size
        f._edge = list(zip(levels, hashes, strict=True))
        return f

    def add(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        index = self.size
        self.size += 1
        level, h = 0, leaf
        made = [(0, index, h)]
        while self._edge and self._edge[-1][0] == level:
            _, left = self._edge.pop()
            h, level, index = node_hash(left, h), level + 1, index >> 1
            made.append((level, index, h))
        self._edge.append((level, h))
        return made

    def root(self) -> bytes:
        if not self._edge:
            return EMPTY_ROOT
        h = self._edge[-1][1]
        for _, left in reversed(self._edge[:-1]):
            h = node_hash(left, h)
        return h
