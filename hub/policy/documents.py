"""Policy files as YAML documents that know every line: reading one from disk (the policy
package's only I/O, with size, encoding, syntax, duplicate-key and alias-bomb checks) and the
wording of every refusal, which names file, line and place ("target 'bsky', key 'mode'")."""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml  # no stubs installed (types-PyYAML)
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from hub.errors import PolicyFileInvalid

__all__ = ["MAX_FILE_BYTES", "Document", "Loc", "did_you_mean", "read_document"]

MAX_FILE_BYTES = 1 << 20
_MAX_NODES = 100_000            # guards against alias bombs ("billion laughs")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_KINDS = {"targets": "target", "audiences": "audience", "rules": "rule", "cases": "case",
          "people": "person", "lists": "list"}
_PYDANTIC_TAG = re.compile(r"^[a-z][a-z-]*\[.*\]$")     # e.g. "function-after[_hours(), str]"

M = TypeVar("M", bound=BaseModel)
Loc = Sequence[str | int]


@dataclass(frozen=True)
class Document:
    """One parsed YAML file: its data plus the node tree that knows every line."""

    file: str
    raw: bytes
    node: yaml.Node | None
    data: Any

    def line_at(self, loc: Loc) -> int | None:
        """1-based line of the key or item at ``loc`` (the nearest enclosing one if absent)."""
        if self.node is None:
            return None
        node: yaml.Node = self.node
        line: int = node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                pairs = [(k, v) for k, v in node.value
                         if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
                if not pairs:
                    return line
                key, node = pairs[-1]
                line = key.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                    and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def invalid(self, loc: Loc, reason: str) -> PolicyFileInvalid:
        return PolicyFileInvalid(self.file, self.line_at(loc), reason)

    def place(self, loc: Loc) -> str:
        return f"{self.file}:{self.line_at(loc)}"

    def validate(self, model: type[M], data: Any = None, *, prefix: Loc = (),
                 also_allowed: Sequence[str] = ()) -> M:
        """``model.model_validate`` with the first problem turned into ``PolicyFileInvalid``.

        ``prefix`` is where ``data`` sits in the file when it is not the whole document."""
        try:
            return model.model_validate(self.data if data is None else data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            # a container's error ("needs at least 1 item") is noise next to its item's own
            locs = [_clean_loc(e["loc"]) for e in errors]
            errors = [e for e, loc in zip(errors, locs, strict=True)
                      if not any(len(o) > len(loc) and o[:len(loc)] == loc for o in locs)]
            lines = [self.line_at([*prefix, *_clean_loc(e["loc"])]) or 0 for e in errors]
            first = min(range(len(errors)), key=lambda i: lines[i])
            reason = self._describe(errors[first], model, prefix, also_allowed)
            rest = sorted((i for i in range(len(errors)) if i != first), key=lambda i: lines[i])
            others = tuple((f"{self.file}:{lines[i]}: " if lines[i] else f"{self.file}: ")
                           + self._describe(errors[i], model, prefix, also_allowed)
                           for i in rest)
            if len(errors) > 1:
                more = len(errors) - 1
                reason += f" (and {more} more problem{'s' if more > 1 else ''})"
            raise PolicyFileInvalid(self.file, lines[first] or None, reason, others) from None

    def _describe(self, error: ErrorDetails, model: type[BaseModel], prefix: Loc,
                  also_allowed: Sequence[str]) -> str:
        loc = _clean_loc(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            allowed = [*also_allowed, *_fields_at(model, loc[:-1])]
            key = str(loc[-1])
            return (f"{self.describe_loc([*prefix, *loc[:-1]])}: unknown key {key!r}"
                    f"{did_you_mean(key, allowed)}; allowed keys: {', '.join(allowed)}")
        if kind == "missing":
            return (f"{self.describe_loc([*prefix, *loc[:-1]])}: "
                    f"missing required key {str(loc[-1])!r}")
        message = error["msg"].removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        if loc and loc[-1] == "[key]":
            return f"{self.describe_loc([*prefix, *loc[:-2]])}: {message}"
        value = error.get("input")
        if not kind.startswith("value_error") and isinstance(value, str | int | float | bool):
            shown = repr(value)    # enough to find it; a refusal is kept in the audit for good
            message += f" (got {shown if len(shown) <= 60 else shown[:57] + '…'})"
        return f"{self.describe_loc([*prefix, *loc])}: {message}"

    def describe_loc(self, loc: Loc) -> str:
        """Words for a place: "target 'bsky', key 'mode'", "rule #2", "accounts"."""
        if not loc:
            return "top level"
        head, *rest = loc
        words = str(head)
        if words in _KINDS and rest:
            words = f"{_KINDS[words]} {self._label(words, rest.pop(0))}"
        keys = ".".join(str(p) for p in rest if not isinstance(p, int))
        return f"{words}, key {keys!r}" if keys else words

    def _label(self, section: str, item: str | int) -> str:
        """``'bsky'`` for a named entry; a list item by its ``id``/``name`` or ``#n``."""
        if isinstance(item, str):
            return repr(item)
        entries = self.data.get(section) if isinstance(self.data, dict) else None
        entry = entries[item] if isinstance(entries, list) and item < len(entries) else None
        name = (entry.get("id") or entry.get("name")) if isinstance(entry, dict) else None
        return repr(name) if isinstance(name, str) else f"#{item + 1}"


def read_document(path: Path, display: str) -> Document:
    """Read and parse one YAML file; refuse big files, syntax errors and duplicate keys."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PolicyFileInvalid(display, None, f"cannot read the file: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise PolicyFileInvalid(display, None, "the file is larger than 1 MiB; split it up")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise PolicyFileInvalid(display, line, "the file is not UTF-8 text") from None
    try:   # the reader refuses control characters (a NUL, say) as soon as it is built
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1
        raise PolicyFileInvalid(display, line, f"the file holds a control character "
                                f"(U+{exc.character:04X}) YAML does not allow") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(display, raw, None, None)
        _check_keys(node, display)
        return Document(display, raw, node, loader.construct_document(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise PolicyFileInvalid(display, mark.line + 1 if mark else None,
                                f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise PolicyFileInvalid(display, None, f"YAML syntax error: {exc}") from None
    finally:
        loader.dispose()


def _check_keys(root: yaml.Node, file: str) -> None:
    """Refuse duplicate keys (PyYAML would silently keep the last) and alias bombs."""
    budget = _MAX_NODES
    duplicates: list[tuple[int, str]] = []
    stack: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        budget -= 1
        if budget < 0:
            raise PolicyFileInvalid(file, node.start_mark.line + 1,
                                    "the file expands to too many values (nested aliases?)")
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                    ident = (key.tag, key.value)
                    if ident in seen:
                        where = f" in {'.'.join(path)}" if path else ""
                        duplicates.append((line, (
                            f"duplicate key {key.value!r}{where} (first at line "
                            f"{seen[ident]}); YAML would silently keep only the last one")))
                    else:
                        seen[ident] = line
                label = key.value if isinstance(key, yaml.ScalarNode) else "?"
                stack.append((value, (*path, str(label))))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, path) for item in node.value)
    if duplicates:
        line, reason = min(duplicates)
        raise PolicyFileInvalid(file, line, reason)


def _clean_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop pydantic's internal union/validator labels (e.g. ``function-after[...]``)."""
    return tuple(p for p in loc if isinstance(p, int) or not _PYDANTIC_TAG.match(p))


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Keys allowed in the mapping at ``loc`` inside ``model``, for "allowed keys" hints."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (dict, Mapping, list, tuple):
            current = get_args(current)[-1 if get_origin(current) in (dict, Mapping) else 0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            annotation = options[0]
        else:
            return annotation


def did_you_mean(word: str, choices: Sequence[str] | Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
