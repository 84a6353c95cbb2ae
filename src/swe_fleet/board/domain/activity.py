"""Live activity: one line a person reads for each event, and a council's progress as it deliberates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Events after which a story page re-reads its tasks and councils (the graph has changed).
REFRESHING = ("context.updated", "orchestration.deliberation.completed", "orchestration.task.dispatched")
LIVE_SUBJECTS = (
    "planning.>",
    "orchestration.>",
    "agent.cmd.>",
    "agent.response.>",
    "context.>",
    "workspace.>",
    "dlq.>",
    "operations.>",
)


@dataclass(frozen=True)
class ActivityLine:
    subject: str
    occurred_at: str
    story_ids: tuple[str, ...]
    summary: str
    refresh: bool
    progress: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "occurred_at": self.occurred_at,
            "story_ids": list(self.story_ids),
            "summary": self.summary,
            "refresh": self.refresh,
            "progress": self.progress,
        }


@dataclass
class CouncilProgress:
    """Commands sent and answers received per deliberation and kind, as seen since the page opened."""

    sent: dict[str, Counter[str]] = field(default_factory=dict)
    answered: dict[str, Counter[str]] = field(default_factory=dict)

    def record(self, subject: str, payload: Mapping[str, Any]) -> str:
        deliberation = payload.get("deliberation_id")
        kind = str(payload.get("kind") or "")
        if not deliberation or not kind:
            return ""
        if subject.startswith("agent.cmd."):
            self.sent.setdefault(deliberation, Counter())[kind] += 1
        elif subject.startswith("agent.response."):
            self.answered.setdefault(deliberation, Counter())[kind] += 1
        sent, answered = self.sent.get(deliberation, Counter()), self.answered.get(deliberation, Counter())
        steps = [
            f"{k} {answered[k]}/{sent[k]}" for k in ("generate", "critique", "revise", "score") if sent[k]
        ]
        task = payload.get("task_id") or deliberation
        return f"Council on {task}: " + ", ".join(steps) if steps else ""


def story_ids_of(payload: Mapping[str, Any]) -> tuple[str, ...]:
    if isinstance(payload.get("story_ids"), list):
        return tuple(str(s) for s in payload["story_ids"])
    story = payload.get("story_id")
    return (str(story),) if story else ()


def summarise(subject: str, envelope: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """A one-line summary of an event and its payload (a bare payload is its own payload)."""
    payload = envelope.get("payload") if isinstance(envelope.get("payload"), Mapping) else envelope
    assert isinstance(payload, Mapping)
    p = payload
    parts: list[str] = []
    if subject == "planning.story.transitioned":
        parts.append(f"{p.get('from_state')} → {p.get('to_state')} by {p.get('transitioned_by')}")
    elif subject in ("planning.story.created", "planning.epic.created"):
        parts.append(f"“{p.get('title', '')}”")
    elif subject.startswith("agent."):
        parts.append(f"{p.get('kind', '')} {p.get('agent_id', '')}")
        if p.get("error") or p.get("reason"):
            parts.append(f"failed: {p.get('error') or p.get('reason')}")
    elif subject == "orchestration.deliberation.completed":
        parts.append(f"task {p.get('task_id')}: winner {p.get('winner_agent_id', '')}")
    elif subject == "orchestration.task.dispatched":
        parts.append(f"task {p.get('task_id')} to {p.get('agent_id', '')}")
    elif subject == "workspace.approval.requested":
        parts.append(
            f"task {p.get('task_id')} waits for approval {p.get('approval_id')}: `{p.get('command')}`"
        )
    elif subject.startswith("planning.approval."):
        verdict = "granted" if p.get("approved") else "refused"
        parts.append(f"approval {p.get('approval_id')} {verdict} by {p.get('decided_by')}: {p.get('reason')}")
    elif subject.startswith("dlq."):
        parts.append("dead-lettered")
    elif subject.startswith("operations."):
        parts.append(f"{p.get('action', '')} by {p.get('by', '')}")
    for key in ("plan_id", "decision_id"):
        if p.get(key):
            parts.append(f"{key.removesuffix('_id')} {p[key]}")
    stories = story_ids_of(p)
    if stories:
        parts.append("story " + ", ".join(stories[:3]) + ("…" if len(stories) > 3 else ""))
    return " · ".join(part for part in parts if part), p


def line(subject: str, envelope: Mapping[str, Any], progress: CouncilProgress) -> ActivityLine:
    summary, payload = summarise(subject, envelope)
    return ActivityLine(
        subject=subject,
        occurred_at=str(envelope.get("occurred_at") or ""),
        story_ids=story_ids_of(payload),
        summary=summary,
        refresh=subject in REFRESHING,
        progress=progress.record(subject, payload),
    )
