"""What a send will (or did) reach, in words: one warning per target that will not get the post,
and a one-line summary a phone shortcut can show.

Pure: it reads a preview (before sending) or a post view (after), so the compose page, the API
and the CLI say the same thing about the same post.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.policy.engine import DEFAULT_DENY
from hub.services.posts import PostView
from hub.services.preview import Preview

_SENDING = {"pending", "in_flight", "published"}


@dataclass(frozen=True)
class TargetFate:
    """One requested target: ``sends``, ``held``, ``stopped`` (policy) or ``cannot`` (network)."""

    target: str
    fate: str
    reason: str = ""


@dataclass(frozen=True)
class SendReport:
    """The fates of a post's requested targets, its warnings and its summary line."""

    fates: tuple[TargetFate, ...]

    @property
    def deliverable(self) -> bool:
        """Something will go out now or after approval."""
        return any(f.fate in ("sends", "held") for f in self.fates)

    @property
    def blocked(self) -> tuple[TargetFate, ...]:
        """Targets the policy allows but the network cannot carry the post to."""
        return tuple(f for f in self.fates if f.fate == "cannot")

    @property
    def stopped(self) -> tuple[TargetFate, ...]:
        return tuple(f for f in self.fates if f.fate == "stopped")

    @property
    def warnings(self) -> tuple[str, ...]:
        words = {"stopped": "stopped by the policy", "cannot": "cannot carry it"}
        out = [f"{f.target}: {words[f.fate]}" + (f" — {f.reason}" if f.reason else "")
               for f in self.fates if f.fate in words]
        if not self.fates:
            out.append("the chosen audiences reach no target")
        return tuple(out)

    @property
    def needs_confirmation(self) -> bool:
        """Ask before sending: a target cannot carry it, or nothing would go out at all."""
        return bool(self.blocked) or not self.deliverable

    @property
    def summary(self) -> str:
        sends = [f.target for f in self.fates if f.fate == "sends"]
        held = [f.target for f in self.fates if f.fate == "held"]
        parts = []
        if sends:
            parts.append(f"to {len(sends)} of {len(self.fates)} target"
                         f"{'s' if len(self.fates) != 1 else ''}: {', '.join(sends)}")
        if held:
            parts.append(f"held for approval: {', '.join(held)}")
        parts += [f"{f.target} {'cannot carry it' if f.fate == 'cannot' else 'stopped'}"
                  + (f" ({_first_sentence(f.reason)})" if f.reason else "")
                  for f in self.fates if f.fate in ("cannot", "stopped")]
        if not self.fates:
            parts.append("the chosen audiences reach no target")
        head = "Sending " if self.deliverable else "Nothing can be delivered: "
        return head + "; ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {"deliverable": self.deliverable, "summary": self.summary,
                "warnings": list(self.warnings)}


def _first_sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text if len(text) <= 120 else text[:119].rstrip() + "…"


def report_from_preview(preview: Preview) -> SendReport:
    """Before sending: what the compose preview already knows."""
    fates = []
    for t in preview.requested:
        if t.outcome == "deny":
            fates.append(TargetFate(t.target, "stopped", " ".join(t.reasons)))
        elif t.problem:
            fates.append(TargetFate(t.target, "cannot", t.problem))
        else:
            fates.append(TargetFate(t.target, "held" if t.outcome == "hold" else "sends"))
    return SendReport(tuple(fates))


def report_from_view(view: PostView) -> SendReport:
    """After sending: from the post's latest decision and delivery per target."""
    latest = {d.target: d for d in view.decisions}
    deliveries = {d.target: d for d in view.deliveries}
    fates = []
    for target, d in sorted(latest.items()):
        if list(d.rule_ids) == [DEFAULT_DENY]:
            continue
        delivery = deliveries.get(target)
        if delivery is None or d.outcome == "deny":
            fates.append(TargetFate(target, "stopped", " ".join(d.reasons)))
        elif delivery.status in ("rejected", "failed", "denied"):
            fates.append(TargetFate(target, "cannot", delivery.reason))
        elif delivery.status == "held":
            fates.append(TargetFate(target, "held"))
        elif delivery.status in _SENDING:
            fates.append(TargetFate(target, "sends"))
    return SendReport(tuple(fates))
