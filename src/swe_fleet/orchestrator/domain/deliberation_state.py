"""The state of one deliberation as stored (JetStream KV) and passed through the pure transitions."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from swe_fleet.events import agent_protocol as protocol
from swe_fleet.events.agent_protocol import CommandKind
from swe_fleet.events.payloads import AgentFailure, StoryState, TaskSpec
from swe_fleet.orchestrator.domain.council import Council
from swe_fleet.orchestrator.domain.messages import Outgoing


class Status(StrEnum):
    DELIBERATING = "deliberating"
    # Not started: even the smallest council would exceed the story's token budget (domain.budget).
    WAITING_FOR_BUDGET = "waiting_for_budget"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)


class Stage(StrEnum):
    """Where one agent's proposal is: each proposal moves on as soon as its own inputs are ready."""

    GENERATE = "generate"
    CRITIQUE = "critique"
    REVISE = "revise"
    SCORE = "score"
    DONE = "done"  # scored (or its judges failed): a candidate for selection
    OUT = "out"  # its author failed to generate or revise it: not a candidate


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PendingCommand(_Model):
    command_id: str
    kind: CommandKind
    agent_id: str
    target_agent_id: str  # whose proposal it works on (itself for generate and revise)
    round: int
    sent_at: float
    deadline: float


class Version(_Model):
    revision: int
    proposal: protocol.Revision
    command_id: str


class CritiqueEntry(_Model):
    critique_id: str
    round: int
    critic: str
    author: str
    critique: protocol.Critique


class Verdict(_Model):
    judge: str
    author: str
    scores: protocol.RubricScores
    command_id: str


class Progress(_Model):
    stage: Stage = Stage.GENERATE
    round: int = 0  # the critique/revise round the proposal is in (0 while it is generated)


class DeliberationState(_Model):
    deliberation_id: str
    story_id: str
    plan_id: str | None = None
    task: TaskSpec
    acceptance_criteria: list[str] = Field(default_factory=list)
    council: Council
    story_phase: str = StoryState.PLANNED.value
    correlation_id: str | None = None

    status: Status = Status.DELIBERATING
    started_at: float
    ended_at: float | None = None

    progress: dict[str, Progress] = Field(default_factory=dict)
    pending: dict[str, PendingCommand] = Field(default_factory=dict)
    versions: dict[str, list[Version]] = Field(default_factory=dict)
    critiques: list[CritiqueEntry] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)
    out: dict[str, str] = Field(default_factory=dict)  # agents whose proposal left, and why
    failures: list[AgentFailure] = Field(default_factory=list)
    winner: str | None = None
    outcome: str = ""  # why it was selected, failed or cancelled
    # Tokens its agents' answers reported (each answer counted once), and what the story's budget did:
    # the council as configured when it was cut or waits, and why.
    spent_tokens: int = 0
    configured: Council | None = None
    budget_note: str = ""
    outbox: list[Outgoing] = Field(default_factory=list)

    @property
    def agents(self) -> list[str]:
        return self.council.agent_ids

    @property
    def candidates(self) -> list[str]:
        """Agents whose proposal is still in the running."""
        return sorted(agent for agent in self.versions if agent not in self.out)

    @property
    def available(self) -> list[str]:
        """Council seats that may still be given work: every seat whose own proposal has not failed."""
        return [agent for agent in self.agents if agent not in self.out]

    @property
    def next_deadline(self) -> float | None:
        """When the earliest unanswered command times out (None when nothing is awaited)."""
        return min((p.deadline for p in self.pending.values()), default=None)

    @property
    def stage_summary(self) -> str:
        """e.g. 'critique 1: 2, score: 1' — how many proposals are at each stage (for people)."""
        counts: dict[str, int] = {}
        for progress in self.progress.values():
            label = progress.stage.value
            if progress.stage in (Stage.CRITIQUE, Stage.REVISE):
                label += f" {progress.round}"
            counts[label] = counts.get(label, 0) + 1
        return ", ".join(f"{label}: {n}" for label, n in counts.items())

    def latest(self, agent: str) -> Version:
        return self.versions[agent][-1]
