"""Reads policy files from disk (the policy package's only I/O), validates them strictly and
merges them into one :class:`~hub.policy.engine.Policy`. Every refusal names file and line.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml  # no stubs installed (types-PyYAML)
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from hub.domain.model import Target
from hub.errors import PolicyFileInvalid
from hub.policy.engine import Action, Audience, Conditions, Policy, Requirement, Rule
from hub.policy.schema import WEEKDAYS, ConditionsModel, PolicyFileModel, RuleModel
from hub.ports import TargetSpec

__all__ = ["MAX_FILE_BYTES", "Document", "Policy", "load_policy", "read_document"]

MAX_FILE_BYTES = 1 << 20
_MAX_NODES = 100_000            # guards against alias bombs ("billion laughs")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_KINDS = {"targets": "target", "audiences": "audience", "rules": "rule", "cases": "case",
          "people": "person"}
_CONDITION_KEYS = ("deny", "hold", "when")
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
            if len(errors) > 1:
                more = len(errors) - 1
                reason += f" (and {more} more problem{'s' if more > 1 else ''})"
            raise PolicyFileInvalid(self.file, lines[first] or None, reason) from None

    def _describe(self, error: ErrorDetails, model: type[BaseModel], prefix: Loc,
                  also_allowed: Sequence[str]) -> str:
        loc = _clean_loc(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            allowed = [*also_allowed, *_fields_at(model, loc[:-1])]
            key = str(loc[-1])
            return (f"{self.describe_loc([*prefix, *loc[:-1]])}: unknown key {key!r}"
                    f"{_did_you_mean(key, allowed)}; allowed keys: {', '.join(allowed)}")
        if kind == "missing":
            return (f"{self.describe_loc([*prefix, *loc[:-1]])}: "
                    f"missing required key {str(loc[-1])!r}")
        message = error["msg"].removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        if loc and loc[-1] == "[key]":
            return f"{self.describe_loc([*prefix, *loc[:-2]])}: {message}"
        value = error.get("input")
        if not kind.startswith("value_error") and isinstance(value, str | int | float | bool):
            message += f" (got {value!r})"
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
    loader = yaml.SafeLoader(text)
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


def load_policy(directory: Path, specs: Mapping[str, type[TargetSpec]]) -> Policy:
    """Read every ``*.yaml`` / ``*.yml`` directly in ``directory`` and build the policy.

    Raises ``PolicyFileInvalid`` for the first problem found, naming file and line."""
    base = directory.resolve().name or str(directory)
    if not directory.is_dir():
        raise PolicyFileInvalid(str(directory), None, "the policy directory does not exist")
    paths = sorted(p for p in directory.iterdir()
                   if p.suffix in {".yaml", ".yml"} and not p.name.startswith(".")
                       and p.is_file())
    if not paths:
        raise PolicyFileInvalid(base, None, "no policy files (*.yaml, *.yml) in this directory")
    builder = _Builder(specs)
    digest = hashlib.sha256()
    for path in paths:
        doc = read_document(path, f"{base}/{path.name}")
        builder.add(doc)
        # name and length framed so that moving bytes between files changes the digest
        digest.update(f"{path.name}\0{len(doc.raw)}\0".encode())
        digest.update(doc.raw)
    policy = builder.build(digest.hexdigest())
    policy.compiled  # noqa: B018  (compiled once at load: route() never pays for it)
    return policy


@dataclass(frozen=True)
class _Defined:
    """A name defined in a file: where, and what it became."""

    doc: Document
    loc: Loc
    value: Any


class _Builder:
    """Merges validated files, remembering where each name was defined for messages."""

    def __init__(self, specs: Mapping[str, type[TargetSpec]]) -> None:
        self.specs = specs
        self.documents: list[Document] = []
        self.accounts: dict[str, _Defined] = {}
        self.targets: dict[str, _Defined] = {}
        self.audiences: dict[str, _Defined] = {}
        self.rules: dict[str, _Defined] = {}     # value: RuleModel; loc: ("rules", i)

    def add(self, doc: Document) -> None:
        if doc.data is None:
            raise PolicyFileInvalid(doc.file, None, "the file is empty; start it with 'version: 1'")
        if not isinstance(doc.data, dict):
            raise doc.invalid((), "a policy file is a mapping with the keys version, accounts, "
                                  "targets, audiences and rules")
        model = doc.validate(PolicyFileModel)
        self.documents.append(doc)
        for i, account in enumerate(model.accounts):
            platform = account.split(":", 1)[0]
            if platform not in self.specs:
                raise doc.invalid(("accounts", i), (
                    f"account {account!r} is on unknown platform {platform!r}"
                    f"{_did_you_mean(platform, self.specs)}; known platforms: "
                    f"{', '.join(sorted(self.specs))}"))
            self._define(self.accounts, "account", account, _Defined(doc, ("accounts", i), account))
        for name, entry in model.targets.items():
            target = self._target(doc, name, entry.account, entry.model_extra or {})
            self._define(self.targets, "target", name, _Defined(doc, ("targets", name), target))
        for name, aud in model.audiences.items():
            audience = Audience(name, aud.reach, aud.targets, aud.description)
            self._define(self.audiences, "audience", name,
                         _Defined(doc, ("audiences", name), audience))
        for i, rule in enumerate(model.rules):
            self._define(self.rules, "rule", rule.id, _Defined(doc, ("rules", i), rule))

    @staticmethod
    def _define(table: dict[str, _Defined], kind: str, name: str, new: _Defined) -> None:
        if name in table:
            first = table[name]
            at = (*new.loc, "id") if kind == "rule" else new.loc
            first_at = (*first.loc, "id") if kind == "rule" else first.loc
            raise new.doc.invalid(at, f"{kind} {name!r} is defined twice: first at "
                                      f"{first.doc.place(first_at)}")
        table[name] = new

    def _target(self, doc: Document, name: str, account: str, options: dict[str, Any]) -> Target:
        platform = account.split(":", 1)[0]
        spec = self.specs.get(platform)
        if spec is None:
            raise doc.invalid(("targets", name, "account"), (
                f"target {name!r}: account {account!r} is on unknown platform {platform!r}; "
                f"known platforms: {', '.join(sorted(self.specs))}"))
        validated = doc.validate(spec.options, options, prefix=("targets", name),
                                 also_allowed=("account",))
        return Target(name=name, account=account, reach=spec.reach(validated),
                      options=validated.model_dump(mode="json"))

    def build(self, digest: str) -> Policy:
        self._check_references()
        return Policy(
            version=1,
            accounts=tuple(self.accounts),
            targets=types.MappingProxyType({n: d.value for n, d in self.targets.items()}),
            audiences=types.MappingProxyType({n: d.value for n, d in self.audiences.items()}),
            rules=tuple(_compile(d.value, d.doc.place(d.loc)) for d in self.rules.values()),
            digest=digest,
            files=tuple(doc.file for doc in self.documents),
            warnings=tuple(self._warnings()),
        )

    def _check_references(self) -> None:
        for name, defined in self.targets.items():
            account = defined.value.account
            if account not in self.accounts:
                raise defined.doc.invalid(("targets", name, "account"), (
                    f"target {name!r} uses account {account!r}, which is not declared "
                    f"under 'accounts'{_did_you_mean(account, self.accounts)}"))
        for name, defined in self.audiences.items():
            for i, target_name in enumerate(defined.value.targets):
                if target_name not in self.targets:
                    raise defined.doc.invalid(("audiences", name, "targets", i), (
                        f"audience {name!r} lists target {target_name!r}, which is not defined"
                        f"{_did_you_mean(target_name, self.targets)}"))
        for rule_id, defined in self.rules.items():
            for key in _CONDITION_KEYS:
                conditions = getattr(defined.value, key)
                if conditions is not None:
                    self._check_conditions(defined.doc, (*defined.loc, key), rule_id, conditions)

    def _check_conditions(self, doc: Document, loc: Loc, rule_id: str,
                          conditions: ConditionsModel) -> None:
        known: dict[str, Mapping[str, Any]] = {
            "audiences": self.audiences, "targets": self.targets,
            "accounts": self.accounts, "platforms": self.specs}
        for field, defined in known.items():
            for j, name in enumerate(getattr(conditions, field)):
                if name not in defined:
                    raise doc.invalid((*loc, field, j), (
                        f"rule {rule_id!r} names {field[:-1]} {name!r}, which is not defined"
                        f"{_did_you_mean(name, defined)}"))

    def _warnings(self) -> list[str]:
        warnings: list[str] = []
        used_targets = {t for d in self.audiences.values() for t in d.value.targets}
        used_accounts = {d.value.account for d in self.targets.values()}
        if not self.audiences:
            warnings.append("no audience is defined: every post will be refused")
        for account, defined in self.accounts.items():
            if account not in used_accounts:
                warnings.append(f"{defined.doc.place(defined.loc)}: account {account} is used "
                                "by no target")
        for name, defined in self.targets.items():
            if name not in used_targets:
                warnings.append(f"{defined.doc.place(defined.loc)}: target {name} is in no "
                                "audience, so it never receives a post")
        for name, defined in self.audiences.items():
            audience: Audience = defined.value
            if not audience.targets:
                warnings.append(f"{defined.doc.place(defined.loc)}: audience {name} has no "
                                "targets, so posts to it go nowhere")
            for i, target_name in enumerate(audience.targets):
                target: Target = self.targets[target_name].value
                if target.reach.wider_than(audience.reach):
                    warnings.append(
                        f"{defined.doc.place((*defined.loc, 'targets', i))}: audience {name} "
                        f"(reach {audience.reach}) lists target {target_name} (reach "
                        f"{target.reach}): never-widen will deny it unless the post also asks "
                        f"for an audience of reach {target.reach}")
        for rule_id, defined in self.rules.items():
            rule: RuleModel = defined.value
            conditions = rule.deny or rule.hold or rule.when or ConditionsModel()
            where = defined.doc.place(defined.loc)
            if conditions == ConditionsModel():
                warnings.append(f"{where}: rule {rule_id} has no conditions, so it applies to "
                                "every post and target")
            elif conditions.timezone and not (conditions.hours or conditions.weekdays):
                warnings.append(f"{where}: rule {rule_id} sets a timezone without hours or "
                                "weekdays, so the timezone has no effect")
        return warnings


def _compile(rule: RuleModel, source: str) -> Rule:
    if rule.deny is not None:
        action, model = Action.DENY, rule.deny
    elif rule.hold is not None:
        action, model = Action.HOLD, rule.hold
    else:
        action, model = Action.REQUIRE, rule.when or ConditionsModel()
    hours = None
    if model.hours:
        start, end = model.hours.split("-")
        hours = (_minutes(start), _minutes(end))
    conditions = Conditions(
        tags=model.tags, audiences=model.audiences, targets=model.targets,
        platforms=model.platforms, accounts=model.accounts, reach=model.reach,
        text=tuple(re.compile(p, re.IGNORECASE) for p in model.text),
        mentions_member_of=model.mentions_member_of, has_media=model.has_media,
        missing_alt_text=model.missing_alt_text, author=model.author, language=model.language,
        weekdays=tuple(WEEKDAYS.index(d) for d in model.weekdays), hours=hours,
        timezone=model.timezone or "UTC")
    return Rule(id=rule.id, action=action, conditions=conditions,
                requirement=Requirement(rule.require) if rule.require else None,
                reason=rule.reason or "", source=source)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


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


def _did_you_mean(word: str, choices: Sequence[str] | Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
