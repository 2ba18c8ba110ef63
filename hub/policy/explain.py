"""Plain-text rendering of a routing for ``hub policy explain``: one aligned line per target."""

from __future__ import annotations

from hub.domain.model import Outcome, Routing

_ORDER = {Outcome.ALLOW: 0, Outcome.HOLD: 1, Outcome.DENY: 2}
_LABEL = {Outcome.ALLOW: "allow", Outcome.HOLD: "HOLD", Outcome.DENY: "DENY"}


def explain_lines(routing: Routing) -> list[str]:
    """Allowed targets first, then held (waiting for approval), then denied; each line gives
    outcome, target, account, reach, the deciding rule ids in brackets and the reasons."""
    decisions = sorted(routing.decisions,
                       key=lambda d: (_ORDER[d.outcome], d.target.name))
    if not decisions:
        return []
    name_width = max(len(d.target.name) for d in decisions)
    account_width = max(len(d.target.account) for d in decisions)
    reach_width = max(len(d.target.reach) for d in decisions)
    return [
        f"{_LABEL[d.outcome]:<5}  {d.target.name:<{name_width}}  "
        f"{d.target.account:<{account_width}}  {d.target.reach:<{reach_width}}  "
        f"[{', '.join(d.rule_ids)}]  {' '.join(d.reasons)}".rstrip()
        for d in decisions
    ]
