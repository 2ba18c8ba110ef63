"""Lists that keep themselves, defined from the Lists page or ``hub lists define``: one
hub-managed policy file (``lists-from-ui.yaml``), rewritten only after the whole candidate
policy validates, atomically, then reloaded the way ``hub policy reload`` and SIGHUP do."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # no stubs installed (types-PyYAML)

from hub.domain.events import RuleListEdited
from hub.domain.text import check_clean
from hub.errors import Conflict, InvalidInput, NotFound, PolicyFileInvalid
from hub.policy import Policy
from hub.policy.documents import read_document
from hub.policy.lists import RuleSyntaxError, RuleTooDeep, parse_rule
from hub.runtime import Hub
from hub.services._policy_files import candidate_policy, locked, write_atomic
from hub.services.people_lists import Member, sorted_members
from hub.services.policy import reload_policy

__all__ = ["ABSENT", "HEADER", "UI_FILE", "RuleListPreview", "define_rule_list",
           "editable_here", "preview_rule_list", "ui_file_digest", "ui_file_place",
           "undefine_rule_list"]

UI_FILE = "lists-from-ui.yaml"
ABSENT = "absent"              # the digest of a file that does not exist yet
MAX_DESCRIPTION = 500
PREVIEW_MEMBERS = 20
HEADER = """\
# Lists that keep themselves, written by the hub's Lists page and `hub lists define`.
# You may edit this file by hand and keep it in version control like the rest of your
# policy files (see policies/README.md, "Lists that keep themselves"). The Lists page
# refuses to save over a change it has not seen; when it saves it rewrites the file, so
# comments other than this header are not kept.
"""


@dataclass(frozen=True)
class RuleListPreview:
    """Who a rule names now, under the candidate policy; nothing was written."""

    name: str
    rule: str
    description: str
    count: int
    members: tuple[Member, ...]      # the first PREVIEW_MEMBERS, with why each is in


def ui_file_place(hub: Hub) -> str:
    """The hub-managed file as messages name it ("policies/lists-from-ui.yaml")."""
    return f"{_base(hub)}/{UI_FILE}"


def ui_file_digest(hub: Hub) -> str:
    """SHA-256 of the hub-managed file as it is on disk now (``ABSENT`` if there is none):
    a form carries it, and a save refuses when the file changed since."""
    try:
        return hashlib.sha256(_regular(hub).read_bytes()).hexdigest()
    except FileNotFoundError:
        return ABSENT
    except OSError as exc:
        raise Conflict(f"cannot read {ui_file_place(hub)}: {exc.strerror}") from None


def editable_here(hub: Hub, name: str) -> bool:
    """True when the policy in force defines rule list ``name`` in the hub-managed file."""
    kept = hub.policies.current.lists.get(name)
    return kept is not None and kept.source.startswith(f"{ui_file_place(hub)}:")


def preview_rule_list(hub: Hub, name: str, rule: str, description: str = "", *,
                      create: bool | None = None) -> RuleListPreview:
    """Who ``rule`` names now, checked as if saved (the whole candidate policy, file and
    line on error) but written nowhere. ``create``: as ``define_rule_list``."""
    name, rule, description = _clean(name, rule, description)
    _check_not_elsewhere(hub, name)
    data = _read_ui(hub)[1]
    _check_presence(hub, data, name, create)
    candidate = _validate(hub, _emit(_with(data, name, {"rule": rule,
                                                        "description": description})))
    with hub.db.read() as s:
        people = candidate.with_lists(hub.people.snapshot(s))
    ids = sorted_members(people, name)
    members = []
    for pid in ids[:PREVIEW_MEMBERS]:
        person = people.people[pid]
        members.append(Member(pid, person.name,
                              tuple(f"{i.kind.value}:{i.value}" for i in person.identities),
                              tuple(candidate.rule_lists.why(name, pid, people))))
    return RuleListPreview(name, candidate.lists[name].text, description, len(ids),
                           tuple(members))


def define_rule_list(hub: Hub, name: str, rule: str, description: str = "", *,
                     expected_digest: str | None, create: bool | None = None,
                     actor: str = "owner") -> Policy:
    """Define (or change) rule list ``name`` in the hub-managed file and load the policy.

    ``create`` True: refuse a name the file already has; False: the file must have it;
    None: either. ``expected_digest`` (``ui_file_digest`` when the form was shown; None: do
    not compare) refuses a file changed since. The candidate policy is validated before
    anything is written: on error nothing changes and the policy in force stays."""
    name, rule, description = _clean(name, rule, description)
    with locked(hub.policies.directory):
        raw, data = _read_ui(hub)
        _check_unchanged(hub, raw, expected_digest)
        _check_not_elsewhere(hub, name)
        _check_presence(hub, data, name, create)
        change = "changed" if name in _lists_of(data) else "defined"
        content = _emit(_with(data, name, {"rule": rule, "description": description}))
        candidate = _validate(hub, content)
        if content == raw:    # the file says this already: nothing to write or to audit
            return reload_policy(hub, actor=actor)[0]
        policy = _install(hub, raw, content, actor=actor)
    _audit(hub, policy, actor=actor, name=name, change=change,
           rule=candidate.lists[name].text, description=description)
    return policy


def undefine_rule_list(hub: Hub, name: str, *, expected_digest: str | None,
                       actor: str = "owner") -> Policy:
    """Remove rule list ``name`` from the hub-managed file and load the policy; refused
    while a target, a rule or another rule list still uses it."""
    name = name.strip()
    with locked(hub.policies.directory):
        raw, data = _read_ui(hub)
        _check_unchanged(hub, raw, expected_digest)
        if name not in _lists_of(data):
            _check_not_elsewhere(hub, name)
            raise NotFound(f"{ui_file_place(hub)} defines no list {name!r}")
        users = _users(hub.policies.current, name)
        if users:
            raise Conflict(f"list {name!r} is still used by {'; '.join(users)}: change those "
                           "first, then remove the list")
        content = _emit(_with(data, name, None))
        users = _users(_validate(hub, content), name)    # a hand edit not loaded yet
        if users:
            raise Conflict(f"list {name!r} is still used by {'; '.join(users)}: change those "
                           "first, then remove the list")
        policy = _install(hub, raw, content, actor=actor)
    _audit(hub, policy, actor=actor, name=name, change="removed", rule="", description="")
    return policy


# -- checks ----------------------------------------------------------------------------------

def _clean(name: str, rule: str, description: str) -> tuple[str, str, str]:
    name = name.strip()
    if not name:
        raise InvalidInput("give the list a name", field="name")
    if len(name) > 63 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in name) \
            or not name[0].isalnum() or name != name.lower():
        raise InvalidInput(f"{name[:80]!r} is not a valid list name: use lowercase letters, "
                           "digits, '-' and '_', starting with a letter or digit (at most 63 "
                           "characters)", field="name")
    rule, description = " ".join(rule.split()), " ".join(description.split())
    if not rule:
        raise InvalidInput("write the rule, e.g. 'followers of mastodon:main and not clients'",
                           field="rule")
    if len(rule) > 2000:
        raise InvalidInput(f"the rule is {len(rule)} characters long; at most 2000",
                           field="rule")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"the description is {len(description)} characters long; at most "
                           f"{MAX_DESCRIPTION}", field="description")
    for field, text in (("rule", rule), ("description", description)):
        if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text):
            raise InvalidInput(f"the {field} holds a control character", field=field)
        check_clean(text, field=field, label=f"the {field}", one_line=True)  # lone surrogates
    try:
        parse_rule(rule)         # other mistakes are named with file and line by the load
    except RuleTooDeep as exc:
        raise InvalidInput(str(exc), field="rule") from exc
    except RuleSyntaxError:
        pass
    return name, rule, description


def _check_not_elsewhere(hub: Hub, name: str) -> None:
    kept = _current_lists(hub).get(name)
    if kept is not None and not kept.source.startswith(f"{ui_file_place(hub)}:"):
        raise Conflict(f"list {name!r} is defined in {kept.source}, one of your own policy "
                       "files: edit it there, then reload the policy (Policy page or `hub "
                       "policy reload`)")


def _check_presence(hub: Hub, data: dict[str, Any], name: str, create: bool | None) -> None:
    if create is True and name in _lists_of(data):
        raise Conflict(f"list {name!r} already exists in {ui_file_place(hub)}: open it to "
                       "change its rule")
    if create is False and name not in _lists_of(data):
        raise NotFound(f"{ui_file_place(hub)} defines no list {name!r}")


def _check_unchanged(hub: Hub, raw: bytes | None, expected: str | None) -> None:
    now = hashlib.sha256(raw).hexdigest() if raw is not None else ABSENT
    if expected is not None and expected != now:
        raise Conflict(f"{ui_file_place(hub)} changed since you opened it (edited by hand, or "
                       "from another window): nothing was saved; reload the page to see it "
                       "as it is now, then make your change again")


def _users(policy: Policy, name: str) -> list[str]:
    """What in ``policy`` names list ``name``, in words with file:line where known."""
    found = [f"target {t.name!r}" for t in policy.targets.values()
             if t.list_name == name or any(
                 isinstance(v, list) and f"list:{name}" in v for v in t.options.values())]
    found += [f"rule {r.id!r} ({r.source})" for r in policy.rules
              if name in r.conditions.mentions_member_of]
    found += [f"list {other.name!r} ({other.source})" for other in policy.lists.values()
              if other.name != name and name in other.lists_named()]
    return found


def _current_lists(hub: Hub) -> dict[str, Any]:
    try:
        return dict(hub.policies.current.lists)
    except PolicyFileInvalid:    # the files in force are broken: validation will say where
        return {}


# -- the file --------------------------------------------------------------------------------

def _base(hub: Hub) -> str:
    return hub.policies.directory.resolve().name or str(hub.policies.directory)


def _ui_path(hub: Hub) -> Path:
    return hub.policies.directory / UI_FILE


def _regular(hub: Hub) -> Path:
    """The hub-managed file's path, refused if something other than a file is there (a FIFO
    would block every reader; the loader skips it)."""
    path = _ui_path(hub)
    if path.exists() and not path.is_file():
        raise Conflict(f"{ui_file_place(hub)} is not a regular file: nothing was read or "
                       "saved; remove it, or put a policy file there")
    return path


def _read_ui(hub: Hub) -> tuple[bytes | None, dict[str, Any]]:
    """The hub-managed file's bytes (None: absent) and its data, read as the loader does."""
    path = _regular(hub)
    if not path.exists():
        return None, {"version": 1}
    doc = read_document(path, ui_file_place(hub))
    data = doc.data if doc.data is not None else {"version": 1}
    if not isinstance(data, dict) or not isinstance(data.get("lists") or {}, dict):
        raise PolicyFileInvalid(doc.file, None, "the file is not a policy file with a 'lists' "
                                "mapping; fix it by hand first")
    return doc.raw, data


def _lists_of(data: dict[str, Any]) -> dict[str, Any]:
    lists = data.get("lists") or {}
    assert isinstance(lists, dict)
    return lists


def _with(data: dict[str, Any], name: str, entry: dict[str, str] | None) -> dict[str, Any]:
    """``data`` with list ``name`` set to ``entry`` (None: removed); other keys kept."""
    lists = dict(_lists_of(data))
    if entry is None:
        lists.pop(name, None)
    else:
        lists[name] = {k: v for k, v in entry.items() if v or k == "rule"}
    out = {"version": data.get("version", 1), **{k: v for k, v in data.items()
                                                  if k not in ("version", "lists")}}
    out["lists"] = lists
    return out


def _emit(data: dict[str, Any]) -> bytes:
    """The file's text: the header, then the data through a real YAML emitter (quoting is
    the emitter's job, so no typed text can break the file)."""
    body: str = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=4096,
                          default_flow_style=False)
    return (HEADER + body).encode("utf-8")


def _validate(hub: Hub, content: bytes) -> Policy:
    return candidate_policy(hub.policies.directory, UI_FILE, content,
                            specs=hub.policies.specs, static_lists=hub.policies.static_lists())


def _install(hub: Hub, old: bytes | None, content: bytes, *, actor: str) -> Policy:
    """Write ``content`` in place of the hub-managed file, then reload; if the reload does
    not take (refused because another file changed meanwhile, or failed: the address book
    unreadable), put the old file back and raise, so the file and the policy in force agree."""
    path = _ui_path(hub)
    in_force = _in_force(hub)
    write_atomic(path, content, refuse=lambda why: _not_writable(hub, why))
    try:
        policy, _ = reload_policy(hub, actor=actor)
    except Exception:
        if _in_force(hub) is in_force:      # not loaded (loaded but not recorded: keep it)
            if old is None:
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, old, refuse=lambda why: _not_writable(hub, why))
        raise
    return policy


def _in_force(hub: Hub) -> Policy | None:
    try:
        return hub.policies.current
    except PolicyFileInvalid:
        return None


def _not_writable(hub: Hub, why: str) -> Conflict:
    return Conflict(f"cannot write {ui_file_place(hub)} ({why}): nothing was saved and the "
                    "policy in force stays; make the policy directory writable by the hub, "
                    "or add the list to a policy file by hand")


def _audit(hub: Hub, policy: Policy, *, actor: str, name: str, change: str, rule: str,
           description: str) -> None:
    with hub.db.transaction() as s:
        hub.audit.append(s, RuleListEdited(actor=actor, policy_digest=policy.digest,
                                           subject=name, change=change,
                                           file=ui_file_place(hub), rule=rule,
                                           description=description), now=hub.now())
