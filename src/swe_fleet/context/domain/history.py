"""Decision history: a story as it stood at a past instant, and why a decision was taken.

Decisions are never overwritten: each has a validity interval, from when it was decided (`at`) to
when a later decision superseded it (`superseded_at`, by `superseded_by`), open while it is current.
`as_of` cuts a story's graph back to an instant: records after it are dropped, a decision
superseded after it is current again, and the story's state is the one its last transition gave.
`explain` gathers the rationale chain of one decision: what it replaced, what replaced it, the
alternatives rejected for the same task, and the deliberation and proposals it came from.

Instants are RFC 3339 UTC strings as the graph stores them (`2026-01-01T10:00:00.000000Z`); they
are compared as text, which orders them by time because the format has a fixed width.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from swe_fleet.context.domain.model import DecisionFacts, DeliberationFacts, StoryGraph


class DecisionNotFound(LookupError):
    """The graph has no decision with this id (the API answers 404)."""


class BadInstant(ValueError):
    """An as-of instant that is not a date-time (the API answers 422)."""


def normalise_instant(text: str) -> str:
    """`text` (ISO 8601, with or without zone; UTC assumed) as the graph's fixed-width UTC form."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInstant(f"as-of {text!r} is not an ISO 8601 date-time (e.g. 2026-01-31T12:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _by(instant: str, at: str | None) -> bool:
    """Happened at or before `instant` (a record without a time is kept: its time is unknown)."""
    return at is None or _comparable(at) <= instant


def _comparable(at: str) -> str:
    # Older records may carry second precision (`...:05Z`); pad them to the fixed width.
    try:
        return normalise_instant(at)
    except BadInstant:
        return at


def decision_as_of(decision: DecisionFacts, instant: str) -> DecisionFacts:
    """The decision as it stood at `instant`: superseded only if that had happened by then."""
    if decision.superseded_by is not None and not _by(instant, decision.superseded_at or ""):
        return replace(decision, superseded_by=None, superseded_at=None)
    return decision


def as_of(graph: StoryGraph, instant: str) -> StoryGraph:
    """`graph` cut back to `instant` (normalised): what had happened by then, as it stood then."""
    decisions = [decision_as_of(d, instant) for d in graph.decisions if _by(instant, d.at)]
    known = {d.id for d in decisions}
    decisions = [replace(d, supersedes=tuple(old for old in d.supersedes if old in known)) for d in decisions]
    transitions = tuple(t for t in graph.transitions if _by(instant, t.at))
    state = max(transitions, key=lambda t: _comparable(t.at or ""), default=None)
    story = replace(graph.story, state=state.to_state) if state is not None else graph.story
    deliberations = tuple(d for d in graph.deliberations if _by(instant, d.completed_at))
    dispatches = tuple(d for d in graph.dispatches if _by(instant, d.at))
    return replace(
        graph,
        story=story,
        plans=tuple(plan for plan in graph.plans if _by(instant, plan.status_at)),
        plan_events=tuple(event for event in graph.plan_events if _by(instant, event.at)),
        transitions=transitions,
        decisions=tuple(decisions),
        deliberations=deliberations,
        dispatches=dispatches,
        reviews=tuple(r for r in graph.reviews if _by(instant, r.at)),
    )


@dataclass(frozen=True)
class ProposalFacts:
    id: str
    agent_id: str | None
    summary: str | None
    content: str | None
    total_score: float | None
    selected: bool


@dataclass(frozen=True)
class DecisionWhy:
    """Why a decision stands (or stood): its rationale chain, from the graph."""

    story_id: str
    decision: DecisionFacts
    supersedes: tuple[DecisionFacts, ...]  # what it replaced
    superseded_by: DecisionFacts | None  # what replaced it, if anything has
    alternatives: tuple[DecisionFacts, ...]  # rejected for the same task (or for the story)
    deliberation: DeliberationFacts | None  # the council it came from, if any
    proposals: tuple[ProposalFacts, ...]  # that council's proposals, the selected one first

    def as_dict(self) -> dict[str, object]:
        def decision(d: DecisionFacts) -> dict[str, object]:
            return {
                "id": d.id,
                "title": d.title,
                "rationale": d.rationale,
                "status": d.status,
                "decided_by": d.decided_by,
                "source": d.source,
                "task_id": d.task_id,
                "valid_from": d.at,
                "valid_until": d.superseded_at,
                "superseded_by": d.superseded_by,
                "supersedes": list(d.supersedes),
            }

        council = self.deliberation
        return {
            "story_id": self.story_id,
            "decision": decision(self.decision),
            "current": self.decision.current,
            "supersedes": [decision(d) for d in self.supersedes],
            "superseded_by": decision(self.superseded_by) if self.superseded_by else None,
            "alternatives": [decision(d) for d in self.alternatives],
            "deliberation": (
                {
                    "id": council.id,
                    "task_id": council.task_id,
                    "role": council.role,
                    "rounds": council.rounds,
                    "agents": list(council.agents),
                    "winner_agent_id": council.winner_agent_id,
                    "completed_at": council.completed_at,
                }
                if council
                else None
            ),
            "proposals": [
                {
                    "id": p.id,
                    "agent_id": p.agent_id,
                    "summary": p.summary,
                    "total_score": p.total_score,
                    "selected": p.selected,
                }
                for p in self.proposals
            ],
        }


def explain(
    story_id: str,
    decision_id: str,
    decisions: tuple[DecisionFacts, ...],
    deliberation: DeliberationFacts | None = None,
    proposals: tuple[ProposalFacts, ...] = (),
) -> DecisionWhy:
    """The rationale chain of `decision_id` among its story's `decisions` (KeyError if not there)."""
    by_id = {d.id: d for d in decisions}
    decision = by_id[decision_id]
    replaced = {old for old in decision.supersedes} | {
        d.id for d in decisions if d.superseded_by == decision_id
    }
    alternatives = tuple(
        d
        for d in decisions
        if d.status == "REJECTED" and d.id != decision_id and d.task_id == decision.task_id
    )
    return DecisionWhy(
        story_id=story_id,
        decision=decision,
        supersedes=tuple(by_id[old] for old in sorted(replaced) if old in by_id),
        superseded_by=by_id.get(decision.superseded_by or ""),
        alternatives=alternatives,
        deliberation=deliberation,
        proposals=tuple(sorted(proposals, key=lambda p: (not p.selected, -(p.total_score or 0), p.id))),
    )
