"""The state of one deliberation as stored (JetStream KV) and passed through the pure transitions."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from swe_fleet.agents import protocol
from swe_fleet.agents.protocol import CommandKind
from swe_fleet.events.payloads import AgentFailure, StoryState, TaskSpec
from swe_fleet.orchestrator.domain.council import Council
from swe_fleet.orchestrator.domain.messages import Outgoing


class Status(StrEnum):
    GENERATE = "generate"
    CRITIQUE = "critique"
    REVISE = "revise"
    SCORE = "score"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PendingCommand(_Model):
    command_id: str
    kind: CommandKind
    agent_id: str
    target_agent_id: str  # whose proposal it works on (itself for generate and revise)
    round: int


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


class DeliberationState(_Model):
    deliberation_id: str
    story_id: str
    plan_id: str | None = None
    task: TaskSpec
    acceptance_criteria: list[str] = Field(default_factory=list)
    council: Council
    story_phase: str = StoryState.PLANNED.value
    correlation_id: str | None = None

    status: Status = Status.GENERATE
    round: int = 0
    started_at: float
    phase_started_at: float
    phase_deadline: float
    ended_at: float | None = None

    pending: dict[str, PendingCommand] = Field(default_factory=dict)
    versions: dict[str, list[Version]] = Field(default_factory=dict)
    critiques: list[CritiqueEntry] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)
    out: dict[str, str] = Field(default_factory=dict)  # agents that left, and why
    failures: list[AgentFailure] = Field(default_factory=list)
    winner: str | None = None
    outcome: str = ""  # why it was selected, failed or cancelled
    outbox: list[Outgoing] = Field(default_factory=list)

    @property
    def agents(self) -> list[str]:
        return self.council.agent_ids

    @property
    def candidates(self) -> list[str]:
        """Agents whose proposal is still in the running."""
        return sorted(agent for agent in self.versions if agent not in self.out)

    def latest(self, agent: str) -> Version:
        return self.versions[agent][-1]
