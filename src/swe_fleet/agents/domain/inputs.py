"""What each command kind must carry in `AgentCommand.inputs`, read leniently but checked.

The orchestrator writes these dicts (see swe_fleet.events.agent_protocol); unknown keys are ignored so it
can add more, and a missing piece the kind cannot do without is a `BadInputs` error, answered at
once as a failed response: no LLM call can make up for it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from swe_fleet.events.agent_protocol import CommandKind, Critique, Proposal, RubricCriterion
from swe_fleet.events.payloads import Role

# The rubric used when a command brings none (SCORE needs criteria to score against).
DEFAULT_RUBRIC = (
    RubricCriterion(criterion="correctness", description="Does what the task asks, with no gaps.", weight=3),
    RubricCriterion(criterion="completeness", description="Covers every acceptance criterion.", weight=2),
    RubricCriterion(criterion="clarity", description="Concrete, ordered, unambiguous steps.", weight=1),
)


class BadInputs(ValueError):
    """The command lacks what its kind needs; the message names the missing or invalid inputs."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TaskBrief(_Lenient):
    task_id: str = ""
    key: str = ""
    title: str = Field(min_length=1)
    description: str = ""
    role: Role | None = None
    estimate_hours: float | None = None
    depends_on: list[str] = Field(default_factory=list)


class StoryBrief(_Lenient):
    story_id: str = ""
    title: str = ""
    brief: str = ""
    acceptance_criteria: list[str] = Field(default_factory=list)


class PlanBrief(_Lenient):
    plan_id: str = ""
    description: str = ""
    acceptance_criteria: list[str] = Field(default_factory=list)
    technical_notes: str = ""
    notes: str = ""  # the Product Owner's notes on approval
    roles: list[Role] = Field(default_factory=list)


class _Common(_Lenient):
    # Feedback from the orchestrator on an earlier attempt (e.g. why derived tasks were unusable).
    feedback: str = ""

    @field_validator("feedback", mode="before")
    @classmethod
    def _join(cls, value: Any) -> Any:
        return "\n".join(map(str, value)) if isinstance(value, list) else value or ""


class DeriveInputs(_Common):
    story: StoryBrief = Field(default_factory=StoryBrief)
    plan: PlanBrief
    roles: list[Role] = Field(default_factory=list)
    max_tasks: int = Field(default=6, ge=1, le=12)
    max_estimate_hours: float = Field(default=40, gt=0, le=200)

    @property
    def allowed_roles(self) -> list[Role]:
        """Roles the tasks may have: those asked for, else the plan's, else every role."""
        return list(dict.fromkeys(self.roles or self.plan.roles)) or list(Role)


class TaskInputs(_Common):
    task: TaskBrief
    rubric: list[RubricCriterion] = Field(default_factory=list)
    acceptance_criteria: list[str] = Field(default_factory=list)

    @property
    def criteria(self) -> list[RubricCriterion]:
        """The rubric with one entry per criterion name (the first wins), or the default rubric."""
        first: dict[str, RubricCriterion] = {}
        for criterion in self.rubric:
            first.setdefault(criterion.criterion.strip(), criterion)
        return list(first.values()) or list(DEFAULT_RUBRIC)


class GenerateInputs(TaskInputs):
    pass


class CritiqueInputs(TaskInputs):
    proposal_id: str = ""
    proposal: Proposal
    self_critique: bool = False


class ReviseInputs(TaskInputs):
    proposal: Proposal
    critiques: list[Critique] = Field(default_factory=list)


class ScoreInputs(TaskInputs):
    proposal_id: str = ""
    proposal: Proposal


KindInputs = DeriveInputs | GenerateInputs | CritiqueInputs | ReviseInputs | ScoreInputs

INPUTS_FOR_KIND: dict[CommandKind, type[KindInputs]] = {
    CommandKind.DERIVE: DeriveInputs,
    CommandKind.GENERATE: GenerateInputs,
    CommandKind.CRITIQUE: CritiqueInputs,
    CommandKind.REVISE: ReviseInputs,
    CommandKind.SCORE: ScoreInputs,
}


def read_inputs(kind: CommandKind, inputs: dict[str, Any]) -> KindInputs:
    model = INPUTS_FOR_KIND.get(kind)
    if model is None:
        raise BadInputs(f"{kind.value} commands are not answered with the LLM")
    try:
        return model.model_validate(inputs)
    except ValidationError as error:
        problems = "; ".join(
            f"inputs.{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()[:5]
        )
        raise BadInputs(f"{kind.value} command has unusable inputs: {problems}") from None
