"""What the assembler knows about a story (read from the graph) and what it answers (a context pack)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StoryFacts:
    id: str
    title: str | None = None
    brief: str | None = None
    acceptance_criteria: tuple[str, ...] = ()
    owner: str | None = None
    state: str | None = None
    placeholder: bool = False
    epic_id: str | None = None
    epic_title: str | None = None
    project_id: str | None = None
    project_name: str | None = None


@dataclass(frozen=True)
class PlanFacts:
    id: str
    status: str | None = None
    description: str | None = None
    acceptance_criteria: tuple[str, ...] = ()
    technical_notes: str | None = None
    roles: tuple[str, ...] = ()
    status_at: str | None = None


@dataclass(frozen=True)
class PlanEventFacts:
    """An approval or a rejection of a plan."""

    plan_id: str
    kind: str  # "approved" | "rejected"
    by: str | None
    text: str | None  # approval notes or rejection reason
    at: str | None


@dataclass(frozen=True)
class TransitionFacts:
    from_state: str | None
    to_state: str | None
    by: str | None
    reason: str | None
    at: str | None


@dataclass(frozen=True)
class ExecutionFacts:
    """What a workspace did with the task: `outcome` completed (committed on `branch`) or failed."""

    outcome: str
    summary: str | None = None
    reason: str | None = None
    branch: str | None = None
    files: tuple[str, ...] = ()
    tests_ok: bool | None = None


@dataclass(frozen=True)
class TaskFacts:
    id: str
    title: str | None = None
    description: str | None = None
    role: str | None = None
    estimate_hours: float | None = None
    status: str | None = None
    depends_on: tuple[str, ...] = ()
    execution: ExecutionFacts | None = None


@dataclass(frozen=True)
class DecisionFacts:
    id: str
    title: str | None = None
    rationale: str | None = None
    decided_by: str | None = None
    status: str | None = None
    source: str | None = None
    task_id: str | None = None
    affects: tuple[str, ...] = ()
    at: str | None = None
    # Validity: a decision is current until another one supersedes it (then it is history, not deleted).
    superseded_by: str | None = None
    superseded_at: str | None = None
    supersedes: tuple[str, ...] = ()

    @property
    def current(self) -> bool:
        return self.superseded_by is None


@dataclass(frozen=True)
class DeliberationFacts:
    id: str
    task_id: str | None = None
    role: str | None = None
    rounds: int | None = None
    agents: tuple[str, ...] = ()
    winner_agent_id: str | None = None
    winner_content: str | None = None
    winner_score: float | None = None
    winner_criteria: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    completed_at: str | None = None
    # The winning proposal's own one- or two-sentence summary: what later tasks need of this result.
    winner_summary: str | None = None


@dataclass(frozen=True)
class DispatchFacts:
    task_id: str
    agent_id: str | None
    role: str | None
    at: str | None
    # A re-dispatch (ADR 0703): the task it reworks, and why.
    rework_of: str | None = None
    rework_reason: str | None = None


@dataclass(frozen=True)
class ReviewFacts:
    """A QA review of one attempt's change: its verdict, summary and findings."""

    task_id: str
    verdict: str | None
    summary: str | None
    findings: tuple[str, ...] = ()
    head: str | None = None
    at: str | None = None


@dataclass(frozen=True)
class StoryGraph:
    """Everything the graph holds about one story, as of `version`."""

    story: StoryFacts
    version: int
    plans: tuple[PlanFacts, ...] = ()
    plan_events: tuple[PlanEventFacts, ...] = ()
    transitions: tuple[TransitionFacts, ...] = ()
    tasks: tuple[TaskFacts, ...] = ()
    decisions: tuple[DecisionFacts, ...] = ()
    deliberations: tuple[DeliberationFacts, ...] = ()
    dispatches: tuple[DispatchFacts, ...] = ()
    reviews: tuple[ReviewFacts, ...] = ()


class StoryNotFound(LookupError):
    """The graph has never heard of this story (the API answers 404)."""


class TaskNotInStory(LookupError):
    """The task asked for is not a task of the story (the API answers 404)."""


@dataclass(frozen=True)
class ContextRequest:
    story_id: str
    role: str
    phase: str
    token_budget: int
    task_id: str | None = None
    # The story as it stood at this instant (RFC 3339 UTC, normalised); None = now.
    as_of: str | None = None
    # Also list the decisions that were superseded (marked so), not only the current ones.
    history: bool = False


@dataclass(frozen=True)
class ContextPack:
    """The answer of GetContext: prompt blocks that together fit the budget, and what was left out."""

    story_id: str
    role: str
    phase: str
    task_id: str | None
    version: int
    token_budget: int
    token_count: int
    tokenizer: str
    blocks: dict[str, str]
    sections_included: tuple[str, ...]
    sections_cut: tuple[str, ...]
    sections_shortened: tuple[str, ...] = ()
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    as_of: str | None = None
    history: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "story_id": self.story_id,
            "role": self.role,
            "phase": self.phase,
            "task_id": self.task_id,
            "version": self.version,
            "token_count": self.token_count,
            "token_budget": self.token_budget,
            "tokenizer": self.tokenizer,
            "blocks": dict(self.blocks),
            "sections_included": list(self.sections_included),
            "sections_cut": list(self.sections_cut),
            "sections_shortened": list(self.sections_shortened),
            "cached": self.cached,
            "as_of": self.as_of,
            "history": self.history,
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> ContextPack:
        return cls(
            story_id=document["story_id"],
            role=document["role"],
            phase=document["phase"],
            task_id=document.get("task_id"),
            version=int(document["version"]),
            token_budget=int(document["token_budget"]),
            token_count=int(document["token_count"]),
            tokenizer=document.get("tokenizer", "estimate"),
            blocks=dict(document["blocks"]),
            sections_included=tuple(document["sections_included"]),
            sections_cut=tuple(document["sections_cut"]),
            sections_shortened=tuple(document.get("sections_shortened", ())),
            cached=bool(document.get("cached", False)),
            as_of=document.get("as_of"),
            history=bool(document.get("history", False)),
        )
