"""The changes a Product Owner (or a service acting for one) can ask Planning to make."""

from __future__ import annotations

from dataclasses import dataclass, field

from swe_fleet.events.payloads import Role, StoryState


@dataclass(frozen=True)
class CreateProject:
    name: str
    created_by: str
    description: str = ""
    project_id: str | None = None  # a caller may choose the id; otherwise one is generated
    repo: str | None = None  # the project's git repository: a path or a URL
    base_branch: str = "main"
    test_command: str | None = None  # how the project's tests run, from the repository's root


@dataclass(frozen=True)
class CreateEpic:
    project_id: str
    title: str
    created_by: str
    description: str = ""
    epic_id: str | None = None


@dataclass(frozen=True)
class CreateStory:
    title: str
    owner: str
    created_by: str
    epic_id: str | None = None
    brief: str = ""
    acceptance_criteria: tuple[str, ...] = ()
    story_id: str | None = None


@dataclass(frozen=True)
class TransitionStory:
    story_id: str
    to_state: StoryState
    by: str
    reason: str | None = None
    # The version the caller based its request on; a stale one is refused with Conflict.
    expected_version: int | None = None


@dataclass(frozen=True)
class SetStoryTokenBudget:
    story_id: str
    token_budget: int | None  # None: back to the fleet's default
    by: str


@dataclass(frozen=True)
class CreatePlan:
    story_id: str
    description: str
    acceptance_criteria: tuple[str, ...]
    created_by: str
    technical_notes: str = ""
    roles: tuple[Role, ...] = ()
    plan_id: str | None = None


@dataclass(frozen=True)
class ApprovePlan:
    plan_id: str
    by: str
    notes: str = ""


@dataclass(frozen=True)
class RejectPlan:
    plan_id: str
    by: str
    reason: str


@dataclass(frozen=True)
class ProposeDecision:
    story_id: str
    title: str
    proposed_by: str
    description: str = ""
    task_id: str | None = None
    affects: tuple[str, ...] = field(default_factory=tuple)
    decision_id: str | None = None


@dataclass(frozen=True)
class ApproveDecision:
    decision_id: str
    by: str
    rationale: str


@dataclass(frozen=True)
class RejectDecision:
    decision_id: str
    by: str
    rationale: str


@dataclass(frozen=True)
class AcceptStory:
    story_id: str
    by: str
    note: str = ""


@dataclass(frozen=True)
class RecordAcceptance:
    story_id: str
    by: str
    note: str
    merge_commit: str
    base_branch: str
    branch: str


@dataclass(frozen=True)
class SendBack:
    story_id: str
    by: str
    reason: str
