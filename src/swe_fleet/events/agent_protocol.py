"""The worker-orchestrator contract: what each command kind is sent on and must answer.

The orchestrator builds an `AgentCommand` (`events.payloads`) with a `CommandKind`, `inputs` shaped as
the kind's comment says and `output_schema` = the JSON Schema of the kind's output model below; a
worker answers with `AgentResponseCompleted.output` = a dict that validates against that model, or
with `AgentResponseFailed`. Both sides import this shared vocabulary; it imports no infrastructure.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swe_fleet.events import subjects
from swe_fleet.events.payloads import CommandKind, Role

__all__ = ["CommandKind"]  # re-exported: the contract reads as one module


SUBJECT_FOR_KIND: dict[CommandKind, str] = {
    CommandKind.DERIVE: subjects.AGENT_CMD_DERIVE,
    CommandKind.GENERATE: subjects.AGENT_CMD_GENERATE,
    CommandKind.CRITIQUE: subjects.AGENT_CMD_CRITIQUE,
    CommandKind.REVISE: subjects.AGENT_CMD_REVISE,
    CommandKind.SCORE: subjects.AGENT_CMD_SCORE,
    CommandKind.PROBE: subjects.AGENT_CMD_PROBE,
}
# The kinds an agent answers with its LLM; a probe is answered without one.
LLM_KINDS: tuple[CommandKind, ...] = tuple(kind for kind in CommandKind if kind is not CommandKind.PROBE)


class _Output(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RubricCriterion(_Output):
    criterion: str = Field(min_length=1)
    description: str = ""
    weight: float = Field(ge=0, default=1.0)


class TaskDraft(_Output):
    key: str = Field(min_length=1, max_length=16, description="short id such as T1, used by depends_on")
    title: str = Field(min_length=3, max_length=200)
    description: str = Field(min_length=1, max_length=4000)
    role: Role
    estimate_hours: float = Field(gt=0, le=200)
    depends_on: list[str] = Field(default_factory=list, description="keys of tasks this one needs first")


class DerivedTasks(_Output):
    tasks: list[TaskDraft] = Field(min_length=1, max_length=12)


class Proposal(_Output):
    summary: str = Field(min_length=1, max_length=2000)
    approach: str = Field(min_length=1, max_length=8000)
    steps: list[str] = Field(min_length=1, max_length=20)
    risks: list[str] = Field(default_factory=list, max_length=10)
    # Code, configuration or JSON the proposal claims; checked mechanically when present.
    artifact: str = Field(default="", max_length=12000)
    artifact_language: str = Field(default="", description="python, json, yaml, sql, shell, or empty")


class Critique(_Output):
    strengths: list[str] = Field(default_factory=list, max_length=10)
    weaknesses: list[str] = Field(min_length=1, max_length=10)
    suggestions: list[str] = Field(min_length=1, max_length=10)


class Revision(Proposal):
    changes: list[str] = Field(default_factory=list, max_length=20, description="what changed after critique")


class CriterionScoreOut(_Output):
    criterion: str = Field(min_length=1)
    score: int = Field(ge=0, le=10)
    reason: str = Field(default="", max_length=1000)


class RubricScores(_Output):
    scores: list[CriterionScoreOut] = Field(min_length=1, max_length=20)


class ProbeOutput(_Output):
    """What a worker found when it fetched the probe story's context as it would for real work."""

    plan_id: str = ""  # the probe plan's, from the command's inputs
    context_version: str | None = None
    context_tokens: int | None = None
    context_error: str | None = None


OUTPUT_MODEL_FOR_KIND: dict[CommandKind, type[_Output]] = {
    CommandKind.DERIVE: DerivedTasks,
    CommandKind.GENERATE: Proposal,
    CommandKind.CRITIQUE: Critique,
    CommandKind.REVISE: Revision,
    CommandKind.SCORE: RubricScores,
    CommandKind.PROBE: ProbeOutput,
}


def output_schema(kind: CommandKind) -> dict[str, Any]:
    return OUTPUT_MODEL_FOR_KIND[kind].model_json_schema()
