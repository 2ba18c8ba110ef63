"""Check what a cross-posting hub's audit log recorded, offline, with nothing but Python.

This file is standalone on purpose: it imports only the standard library, so anyone can copy
it out of the hub and check a proof the hub gave them without trusting the hub's code or
database. It checks three things:

1. **A checkpoint** — a short signed text (C2SP ``tlog-checkpoint`` signed-note format) saying
   "my log had N events and its Merkle root was R", signed with the hub's Ed25519 key. The
   signature is checked here with a pure-Python Ed25519 (RFC 8032).
2. **An inclusion proof** — a few hashes showing that one event (for example "this post was
   delivered to these people") is event number i of that log. The event is shown as recorded.
3. **A consistency proof** — hashes showing that a later checkpoint extends an earlier one: the
   log only grew; nothing before was removed or rewritten.

Hashing is RFC 9162 (Certificate Transparency v2): leaf = SHA-256(0x00 || event bytes),
node = SHA-256(0x01 || left || right).

Usage::

    python verifier.py proof.json --key 'hub.example+1a2b3c4d+AXg…'
    python verifier.py consistency.json --key …
    python verifier.py checkpoint checkpoint.txt --key …

``--key`` is the hub's verifier key as its owner published it (``hub audit key``). Without it,
the key inside the file is used, which proves only that the file is self-consistent. Exit
status 0 means every check passed; 1 means one failed (the reason is printed).
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# -- RFC 9162 hashing and proof verification -----------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes
                     ) -> bool:
    """RFC 9162 section 2.1.3.2: is ``leaf`` (a leaf hash) number ``index`` of the tree?"""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       path: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2: does the tree of size ``second`` extend that of ``first``?"""
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path
    if first > second or not path:
        return False
    if first & (first - 1) == 0:   # an exact power of two: the old root is a node of the new
        path = [first_root] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# -- Ed25519 signature verification (RFC 8032 section 6, pure Python) ------------------------

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_Q = 2**252 + 27742317777372353535851937790883648493
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int, int, int]


def _add(a: _Point, b: _Point) -> _Point:
    x = (a[1] - a[0]) * (b[1] - b[0]) % _P
    y = (a[1] + a[0]) * (b[1] + b[0]) % _P
    c = 2 * a[3] * b[3] * _D % _P
    d = 2 * a[2] * b[2] % _P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f, g * h, f * g, e * h)


def _mul(s: int, point: _Point) -> _Point:
    acc: _Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            acc = _add(acc, point)
        point = _add(point, point)
        s >>= 1
    return acc


def _equal(a: _Point, b: _Point) -> bool:
    return ((a[0] * b[2] - b[0] * a[2]) % _P == 0
            and (a[1] * b[2] - b[1] * a[2]) % _P == 0)


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(s: bytes) -> _Point | None:
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0) or 0
_G: _Point = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _decompress(public), _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(),
                       "little") % _Q
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


# -- C2SP signed notes and tlog checkpoints ---------------------------------------------------


class VerificationError(Exception):
    """A check failed; the message says which and why."""


def b64decode(text: str) -> bytes:
    """Standard base64, canonical only: a changed padding bit is a changed proof."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise VerificationError(f"not valid base64: {text[:20]!r}") from None
    if base64.b64encode(raw).decode() != text:
        raise VerificationError(f"not canonical base64: {text[:20]!r}")
    return raw


@dataclass(frozen=True)
class VerifierKey:
    """``<name>+<key id, 8 hex>+<base64(0x01 || Ed25519 public key)>`` (C2SP signed-note)."""

    name: str
    key_id: bytes
    public: bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        try:
            name, key_hex, blob = text.strip().split("+", 2)
            raw = b64decode(blob)
        except (ValueError, VerificationError) as exc:
            raise VerificationError(f"not a verifier key: {text.strip()[:60]!r}") from exc
        if len(raw) != 33 or raw[0] != 1:
            raise VerificationError("the verifier key is not an Ed25519 key")
        key = cls(name, bytes.fromhex(key_hex), raw[1:])
        if key_id(name, raw[1:]) != key.key_id:
            raise VerificationError("the verifier key's id does not match its name and key")
        return key


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    """A verified tree head: ``size`` events, Merkle ``root``, under log ``origin``."""

    origin: str
    size: int
    root: bytes
    text: str


@functools.lru_cache(maxsize=64)
def verify_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    """Check the note's signature by ``key`` and parse the checkpoint it carries."""
    body, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise VerificationError("the checkpoint is not a signed note (text, a blank line, "
                                "signature lines, each ending in a newline)")
    body += "\n"
    signed = False
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise VerificationError(f"bad signature line {line[:40]!r}")
        name, _, blob = line[2:].rpartition(" ")
        raw = b64decode(blob)
        if name == key.name and raw[:4] == key.key_id:
            if not ed25519_verify(key.public, body.encode(), raw[4:]):
                raise VerificationError("the checkpoint's signature does not verify: the text "
                                        "was changed or another key signed it")
            signed = True
    if not signed:
        raise VerificationError(f"the checkpoint carries no signature by {key.name}")
    lines = body[:-1].split("\n")
    if len(lines) < 3 or not lines[1].isdigit():
        raise VerificationError("the checkpoint body is not origin / size / root hash")
    root = b64decode(lines[2])
    if len(root) != 32:
        raise VerificationError("the checkpoint's root hash is not 32 bytes")
    if lines[0] != key.name:
        raise VerificationError(f"the checkpoint is for log {lines[0]!r}, the key for "
                                f"{key.name!r}")
    return Checkpoint(lines[0], int(lines[1]), root, note)


# -- the hub's event leaves -------------------------------------------------------------------


def parse_leaf(leaf: str) -> dict[str, Any]:
    """A leaf is ``hub-audit-event/1``, seq, prev hash, hash, then the event's canonical JSON,
    one per line; the hash is SHA-256(prev hash + JSON), as in the hub's per-row chain."""
    parts = leaf.split("\n", 4)
    if len(parts) != 5 or parts[0] != "hub-audit-event/1":
        raise VerificationError("the event is not a hub-audit-event/1 leaf")
    _, seq, prev, digest, body = parts
    if hashlib.sha256((prev + body).encode()).hexdigest() != digest:
        raise VerificationError(f"event #{seq}: its hash does not match its content")
    event: dict[str, Any] = json.loads(body)
    event.update(seq=int(seq), prev_hash=prev, hash=digest)
    return event


def _b64list(items: list[str]) -> list[bytes]:
    return [b64decode(x) for x in items]


def verify_proof(bundle: dict[str, Any], key: VerifierKey) -> list[dict[str, Any]]:
    """Check a ``hub audit prove`` bundle; return the events it proves, as recorded."""
    cp = verify_checkpoint(bundle["checkpoint"], key)
    out = []
    for entry in bundle["entries"]:
        event = parse_leaf(entry["leaf"])
        if not verify_inclusion(leaf_hash(entry["leaf"].encode()), entry["leaf_index"],
                                cp.size, _b64list(entry["inclusion"]), cp.root):
            raise VerificationError(f"event #{event['seq']} is not in the log of the "
                                    f"checkpoint ({cp.size} events): the proof fails")
        snapshot = entry.get("snapshot")
        if snapshot is not None:
            if hashlib.sha256(snapshot.encode()).hexdigest() != event.get("subject"):
                raise VerificationError(f"event #{event['seq']}: the audience list does not "
                                        "match the hash the event recorded")
            event["audience"] = json.loads(snapshot)
        out.append(event)
    return out


def verify_consistency_bundle(bundle: dict[str, Any], key: VerifierKey
                              ) -> tuple[Checkpoint, Checkpoint]:
    old = verify_checkpoint(bundle["old"], key)
    new = verify_checkpoint(bundle["new"], key)
    if not verify_consistency(old.size, new.size, old.root, new.root,
                              _b64list(bundle["proof"])):
        raise VerificationError(f"the log of {new.size} events does not extend the log of "
                                f"{old.size} events: history was removed or rewritten")
    return old, new


def _describe(event: dict[str, Any]) -> str:
    p = event.get("payload", {})
    line = f"event #{event['seq']} {event['name']} at {event['created']}"
    if event["name"] == "DeliverySucceeded":
        line += f": post {event.get('post_id')} on {p.get('target')} ({p.get('reach')})"
        audience = event.get("audience")
        if audience is not None:
            people = audience.get("members", [])
            line += (" — anyone on the web" if not people else
                     "".join(f"\n    {m[1]}" + (f" (list {m[2]})" if m[2] else "")
                             for m in people))
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a hub audit proof offline.")
    parser.add_argument("file", help="proof.json, consistency.json, or 'checkpoint'")
    parser.add_argument("note", nargs="?", help="with 'checkpoint': the checkpoint file")
    parser.add_argument("--key", help="the hub's verifier key, as its owner published it")
    args = parser.parse_args(argv)
    try:
        if args.file == "checkpoint":
            text = Path(args.note).read_text()
            if not args.key:
                raise VerificationError("checking a bare checkpoint needs --key")
            cp = verify_checkpoint(text, VerifierKey.parse(args.key))
            print(f"ok: checkpoint of {cp.origin}: {cp.size} events, root "
                  f"{base64.b64encode(cp.root).decode()}")
            return 0
        bundle = json.loads(Path(args.file).read_text())
        if not args.key:
            print("note: using the key inside the file; pass --key to check it is the hub's")
        key = VerifierKey.parse(args.key or bundle["verifier_key"])
        if bundle.get("format") == "hub-audit-consistency/1":
            old, new = verify_consistency_bundle(bundle, key)
            print(f"ok: the log grew from {old.size} to {new.size} events without changing "
                  "its past")
            return 0
        for event in verify_proof(bundle, key):
            print("ok: " + _describe(event))
        return 0
    except (VerificationError, KeyError, ValueError, OSError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
