"""Builds one :class:`~hub.policy.engine.Policy` from the policy directory: each file's
document validated against the schema, merged (a name defined twice is refused), references
checked (targets, accounts, audiences, rule conditions), rules compiled, warnings collected.
Reading and error wording are :mod:`hub.policy.documents`'.
"""

from __future__ import annotations

import hashlib
import re
import types
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.domain.model import Target
from hub.errors import PolicyFileInvalid
from hub.policy.documents import Document, Loc, did_you_mean, read_document
from hub.policy.engine import Action, Audience, Conditions, Policy, Requirement, Rule
from hub.policy.list_checks import check_rule_lists
from hub.policy.lists import RuleList, RuleSyntaxError, parse_rule
from hub.policy.schema import WEEKDAYS, ConditionsModel, PolicyFileModel, RuleModel
from hub.ports import TargetSpec

__all__ = ["Policy", "load_policy"]

_CONDITION_KEYS = ("deny", "hold", "when")


def load_policy(directory: Path, specs: Mapping[str, type[TargetSpec]], *,
                static_lists: Collection[str] | None = None) -> Policy:
    """Read every ``*.yaml`` / ``*.yml`` directly in ``directory`` and build the policy.

    ``static_lists`` are the address book's own list names, which rule lists may name (None:
    not known here, so list names in rules are checked only against other rule lists when
    they are). Raises ``PolicyFileInvalid`` for the first problem found, naming file and
    line."""
    base = directory.resolve().name or str(directory)
    if not directory.is_dir():
        raise PolicyFileInvalid(str(directory), None, "the policy directory does not exist")
    paths = sorted(p for p in directory.iterdir()
                   if p.suffix in {".yaml", ".yml"} and not p.name.startswith(".")
                       and p.is_file())
    if not paths:
        raise PolicyFileInvalid(base, None, "no policy files (*.yaml, *.yml) in this directory")
    builder = _Builder(specs, static_lists)
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

    def __init__(self, specs: Mapping[str, type[TargetSpec]],
                 static_lists: Collection[str] | None = None) -> None:
        self.specs = specs
        self.static_lists = static_lists
        self.lists: dict[str, _Defined] = {}     # value: RuleList; loc: ("lists", name)
        self.documents: list[Document] = []
        self.accounts: dict[str, _Defined] = {}
        self.targets: dict[str, _Defined] = {}
        self.audiences: dict[str, _Defined] = {}
        self.rules: dict[str, _Defined] = {}     # value: RuleModel; loc: ("rules", i)
        self.approval: _Defined | None = None   # value: ApprovalModel

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
                    f"{did_you_mean(platform, self.specs)}; known platforms: "
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
        for name, kept in model.lists.items():
            loc = ("lists", name, "rule")
            try:
                node = parse_rule(kept.rule)
            except RuleSyntaxError as exc:
                raise doc.invalid(loc, f"list {name!r}: {exc}") from None
            rule_list = RuleList(name, node, " ".join(kept.rule.split()), doc.place(loc),
                                 kept.description)
            self._define(self.lists, "list", name, _Defined(doc, loc, rule_list))
        if model.approval is not None:
            if self.approval is not None:
                raise doc.invalid(("approval",), "'approval' is set twice: first at "
                                                 f"{self.approval.doc.place(self.approval.loc)}")
            self.approval = _Defined(doc, ("approval",), model.approval)

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
            separate_approver=(self.approval.value.separate_approver
                               if self.approval is not None else "none"),
            lists=types.MappingProxyType({n: d.value for n, d in self.lists.items()}),
        )

    def _check_references(self) -> None:
        for name, defined in self.targets.items():
            account = defined.value.account
            if account not in self.accounts:
                raise defined.doc.invalid(("targets", name, "account"), (
                    f"target {name!r} uses account {account!r}, which is not declared "
                    f"under 'accounts'{did_you_mean(account, self.accounts)}"))
        for name, defined in self.audiences.items():
            for i, target_name in enumerate(defined.value.targets):
                if target_name not in self.targets:
                    raise defined.doc.invalid(("audiences", name, "targets", i), (
                        f"audience {name!r} lists target {target_name!r}, which is not defined"
                        f"{did_you_mean(target_name, self.targets)}"))
        self._check_lists()
        for rule_id, defined in self.rules.items():
            for key in _CONDITION_KEYS:
                conditions = getattr(defined.value, key)
                if conditions is not None:
                    self._check_conditions(defined.doc, (*defined.loc, key), rule_id, conditions)

    def _check_lists(self) -> None:
        def fail(name: str, reason: str) -> PolicyFileInvalid:
            defined = self.lists[name]
            return defined.doc.invalid(defined.loc, reason)

        check_rule_lists({n: d.value for n, d in self.lists.items()}, accounts=self.accounts,
                         platforms=self.specs, static_lists=self.static_lists, fail=fail)

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
                        f"{did_you_mean(name, defined)}"))

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
