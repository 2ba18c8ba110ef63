"""The owner's policy: loads are audited, a bad file never replaces the policy in force, and a
draft can be explained against it without posting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.domain.events import PolicyLoaded, PolicyRejected
from hub.domain.model import PostId
from hub.errors import PolicyFileInvalid
from hub.policy import Policy
from hub.policy.engine import route
from hub.policy.examples import ExampleResult, load_examples, run_examples
from hub.policy.explain import explain_lines
from hub.runtime import Hub
from hub.services.drafts import Author, PostInput, make_draft
from hub.store.policy_state import PolicyStateRow, record_digest


def reload_policy(hub: Hub, *, actor: str = "owner") -> tuple[Policy, bool]:
    """Re-read the policy files. On error: audit the rejection, keep the old policy, raise."""
    try:
        policy, changed = hub.policies.reload()
    except PolicyFileInvalid as exc:
        with hub.db.transaction() as s:
            hub.audit.append(s, PolicyRejected(actor=actor, file=exc.file, line=exc.line,
                                               reason=exc.reason), now=hub.now())
        raise
    record_policy(hub, policy, actor=actor)
    return policy, changed


def record_policy(hub: Hub, policy: Policy, *, actor: str) -> None:
    """Record a load: the database's policy state (which every worker follows before its next
    publish) names this policy; the audit gets an event unless the last one had its digest."""
    with hub.db.transaction() as s:
        record_digest(s, policy.digest, actor=actor, now=hub.now())
        last = hub.audit.latest(s, "PolicyLoaded")
        if last is None or last.policy_digest != policy.digest:
            hub.audit.append(s, PolicyLoaded(actor=actor, policy_digest=policy.digest,
                                             files=list(policy.files)), now=hub.now())


def explain_draft(hub: Hub, data: PostInput, author: Author) -> list[str]:
    """``hub policy explain``: every target, allow/deny/hold, which rule and why, for a draft
    cleaned like a submitted post, routed against the policy in force and never written."""
    draft = make_draft(hub, data, author, post_id=PostId("draft"))
    routing = route(draft.post, hub.policies.current, draft.people, draft.post.created,
                    local_domains=draft.local_domains)
    return explain_lines(routing)


@dataclass(frozen=True)
class PolicyStatus:
    """What the policy page shows: the policy in force, when and by whom it was loaded, its
    warnings, and the owner's example cases run against it (``hub policy test``)."""

    policy: Policy
    loaded: datetime | None
    loaded_by: str
    results: tuple[ExampleResult, ...]
    examples_error: str = ""     # the example files themselves are invalid (file:line: reason)

    @property
    def failed(self) -> tuple[ExampleResult, ...]:
        return tuple(r for r in self.results if not r.passed)


def policy_status(hub: Hub) -> PolicyStatus:
    """The policy in force and its example cases, run now (nothing is written)."""
    policy = hub.policies.current
    with hub.db.read() as s:
        row = s.get(PolicyStateRow, 1)
    loaded, by = (row.loaded, row.actor) if row is not None else (None, "")
    try:
        examples = load_examples(hub.policies.directory / "tests")
    except PolicyFileInvalid as exc:
        return PolicyStatus(policy, loaded, by, (), exc.message)
    return PolicyStatus(policy, loaded, by, tuple(run_examples(policy, examples, hub.now())))
