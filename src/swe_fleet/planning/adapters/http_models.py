"""The HTTP API's request and response bodies (what the OpenAPI document publishes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from swe_fleet.events.payloads import Role, StoryState
from swe_fleet.planning.app.queries import StoryView
from swe_fleet.planning.domain import lifecycle
from swe_fleet.planning.domain.model import (
    Decision,
    DecisionStatus,
    Epic,
    Plan,
    PlanStatus,
    Project,
    Story,
    TransitionRecord,
)
from swe_fleet.redaction import redact

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


# PostgreSQL refuses NUL in text: the document says so (a 422, not a 500). Required text must hold
# something besides whitespace, which the domain strips.
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\x00 \t\n\r\f\v][^\x00]*$"


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape: no store can keep it
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


# Every text a client sends is stored, published and projected with its secrets redacted: a password
# pasted into a story never reaches the store, an event, the graph or an agent (`[REDACTED:secret]`).
Text = Annotated[
    str, Field(max_length=20_000, pattern=NO_NUL), AfterValidator(_encodable), AfterValidator(redact)
]
Name = Annotated[
    str,
    Field(min_length=1, max_length=500, pattern=NOT_BLANK),
    AfterValidator(_encodable),
    AfterValidator(redact),
]
Prose = Annotated[
    str,
    Field(min_length=1, max_length=20_000, pattern=NOT_BLANK),
    AfterValidator(_encodable),
    AfterValidator(redact),
]
Item = Annotated[
    str,
    Field(min_length=1, max_length=2_000, pattern=NOT_BLANK),
    AfterValidator(_encodable),
    AfterValidator(redact),
]
EntityId = Annotated[str, Field(pattern=ID_PATTERN, examples=["US-01J9Z3K6W5T8Y2N4Q7R1S0V3XA"])]


class RequestBody(BaseModel):
    # No body names its actor (`by`, `created_by`...): the API records the authenticated identity, and
    # a body that tries to name one is refused (422) rather than silently believed or ignored.
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, in one sentence a person can act on")


# ------------------------------------------------------------------ requests


class ProjectIn(RequestBody):
    name: Name
    description: Text = ""
    id: EntityId | None = Field(default=None, description="Choose the id; one is generated if omitted")
    repo: Name | None = Field(default=None, description="The project's git repository: a path or a URL")
    base_branch: str = Field(
        default="main",
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$",
        description="The branch the fleet's branches start from (a name git accepts)",
    )
    test_command: Name | None = Field(
        default=None, description="How the project's tests run, from the repository's root"
    )


class EpicIn(RequestBody):
    project_id: EntityId
    title: Name
    description: Text = ""
    id: EntityId | None = None


class StoryIn(RequestBody):
    title: Name
    owner: Name | None = Field(default=None, description="Who owns the story; default: the caller")
    epic_id: EntityId | None = None
    brief: Text = ""
    acceptance_criteria: list[Item] = Field(default_factory=list, max_length=200)
    id: EntityId | None = None


class TransitionIn(RequestBody):
    to_state: StoryState
    reason: Text | None = None
    expected_version: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The story version you read; a stale one answers 409 (same as the If-Match header)",
    )


class PlanIn(RequestBody):
    description: Prose
    acceptance_criteria: list[Item] = Field(min_length=1, max_length=200)
    technical_notes: Text = ""
    roles: list[Role] = Field(default_factory=list, max_length=20)
    id: EntityId | None = None


class PlanApprovalIn(RequestBody):
    notes: Text = ""


class PlanRejectionIn(RequestBody):
    reason: Prose


class DecisionIn(RequestBody):
    story_id: EntityId
    title: Name
    description: Text = ""
    task_id: Name | None = None
    affects: list[Item] = Field(default_factory=list, max_length=200)
    id: EntityId | None = None


class DecisionVerdictIn(RequestBody):
    rationale: Prose


class ApprovalVerdictIn(RequestBody):
    """The PO's verdict on a command a task waits for (ADR 0612): why, in a sentence."""

    reason: Prose


# ------------------------------------------------------------------ responses


class ProjectOut(BaseModel):
    id: str
    name: str
    description: str
    created_by: str
    created_at: datetime
    repo: str | None = None
    base_branch: str = "main"
    test_command: str | None = None

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        return cls(**vars(project))


class EpicOut(BaseModel):
    id: str
    project_id: str
    title: str
    description: str
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, epic: Epic) -> EpicOut:
        return cls(**vars(epic))


class StoryOut(BaseModel):
    id: str
    epic_id: str | None
    title: str
    brief: str
    acceptance_criteria: list[str]
    owner: str
    state: StoryState
    allowed_transitions: list[StoryState] = Field(description="States this story may move to next")
    version: int = Field(description="Send it back as If-Match (or expected_version) to change the story")
    correlation_id: str = Field(description="The correlation id every event about this story carries")
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, story: Story) -> StoryOut:
        allowed = lifecycle.allowed_targets(story.state)
        return cls(
            **vars(story),
            allowed_transitions=[state for state in StoryState if state in allowed],
        )


class TransitionOut(BaseModel):
    from_state: StoryState
    to_state: StoryState
    by: str
    reason: str | None
    at: datetime
    event_id: str | None

    @classmethod
    def of(cls, record: TransitionRecord) -> TransitionOut:
        return cls(
            from_state=record.from_state,
            to_state=record.to_state,
            by=record.by,
            reason=record.reason,
            at=record.at,
            event_id=record.event_id,
        )


class PlanOut(BaseModel):
    id: str
    story_id: str
    description: str
    acceptance_criteria: list[str]
    technical_notes: str
    roles: list[Role]
    status: PlanStatus
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    verdict_note: str | None = Field(description="The PO's approval notes or rejection reason")
    version: int

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls(**vars(plan))


class StoryDetailOut(StoryOut):
    history: list[TransitionOut]
    plans: list[PlanOut]

    @classmethod
    def of_view(cls, view: StoryView) -> StoryDetailOut:
        base = StoryOut.of(view.story)
        return cls(
            **base.model_dump(),
            history=[TransitionOut.of(record) for record in view.history],
            plans=[PlanOut.of(plan) for plan in view.plans],
        )


class DecisionOut(BaseModel):
    id: str
    story_id: str
    task_id: str | None
    title: str
    description: str
    affects: list[str]
    status: DecisionStatus
    proposed_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    rationale: str | None
    version: int

    @classmethod
    def of(cls, decision: Decision) -> DecisionOut:
        return cls(**vars(decision))
