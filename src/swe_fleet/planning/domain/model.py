"""Project -> Epic -> Story -> Plan, and Decisions: plain dataclasses with the rules that change them.

Each method that changes an entity checks its rule, changes the entity (bumping `version`, which
the store uses for optimistic concurrency) and returns the event payload that records the change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from swe_fleet.events import payloads as events
from swe_fleet.events.payloads import Role, StoryState
from swe_fleet.planning.domain import lifecycle
from swe_fleet.planning.domain.errors import (
    ActionNotAllowed,
    IllegalTransition,
    InvalidInput,
    InvalidPlan,
)

# Blank means ASCII whitespace only, the same set the HTTP API's published patterns use (Unicode
# "whitespace" differs between Python, JSON Schema and Rust regexes).
BLANK = " \t\n\r\f\v"


def required_text(field_name: str, value: str) -> str:
    if not value or not value.strip(BLANK):
        raise InvalidInput(field_name, "must not be empty")
    return value.strip(BLANK)


def clean_items(field_name: str, items: list[str]) -> list[str]:
    cleaned = [item.strip(BLANK) for item in items]
    if any(not item for item in cleaned):
        raise InvalidInput(field_name, "items must not be empty")
    return cleaned


# A git branch name the fleet accepts as a base: plain ref characters, no "..", no leading "-" or "/".
_BRANCH = re.compile(r"^(?!-)(?!/)(?!.*\.\.)(?!.*//)(?!.*\.lock$)(?!.*/$)[A-Za-z0-9._/-]{1,200}$")


def repository_fields(
    repo: str | None, base_branch: str, test_command: str | None
) -> tuple[str | None, str, str | None]:
    """The project's repository settings, checked: a git path or URL, a branch name, a command line."""
    if repo is not None:
        repo = required_text("repo", repo)
        # A value starting with "-" would reach git as an option, not as a repository.
        if repo.startswith("-") or any(ch in repo for ch in "\x00\n\r"):
            raise InvalidInput("repo", "must be a path or URL of a git repository")
    if not _BRANCH.match(base_branch or ""):
        raise InvalidInput("base_branch", f"{base_branch!r} is not a branch name git accepts")
    if test_command is not None:
        test_command = required_text("test_command", test_command)
        if "\x00" in test_command:
            raise InvalidInput("test_command", "must not contain NUL")
    return repo, base_branch, test_command


@dataclass
class Project:
    id: str
    name: str
    description: str
    created_by: str
    created_at: datetime
    repo: str | None = None
    base_branch: str = "main"
    test_command: str | None = None

    def created_event(self) -> events.ProjectCreated:
        return events.ProjectCreated(
            project_id=self.id,
            name=self.name,
            description=self.description,
            created_by=self.created_by,
            repo=self.repo,
            base_branch=self.base_branch,
            test_command=self.test_command,
        )


@dataclass
class Epic:
    id: str
    project_id: str
    title: str
    description: str
    created_by: str
    created_at: datetime

    def created_event(self) -> events.EpicCreated:
        return events.EpicCreated(
            epic_id=self.id,
            project_id=self.project_id,
            title=self.title,
            description=self.description,
            created_by=self.created_by,
        )


@dataclass(frozen=True)
class TransitionRecord:
    story_id: str
    from_state: StoryState
    to_state: StoryState
    by: str
    reason: str | None
    at: datetime
    event_id: str | None = None


@dataclass
class Story:
    id: str
    epic_id: str | None
    title: str
    brief: str
    acceptance_criteria: list[str]
    owner: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    # Every event about the story carries this correlation id: its creation event's id.
    correlation_id: str
    state: StoryState = lifecycle.INITIAL_STATE
    version: int = 1

    def created_event(self) -> events.StoryCreated:
        return events.StoryCreated(
            story_id=self.id,
            epic_id=self.epic_id,
            title=self.title,
            brief=self.brief,
            acceptance_criteria=list(self.acceptance_criteria),
            owner=self.owner,
            state=self.state,
            created_by=self.created_by,
        )

    def transition(
        self, to_state: StoryState, *, by: str, reason: str | None, at: datetime
    ) -> tuple[events.StoryTransitioned, TransitionRecord]:
        allowed = lifecycle.allowed_targets(self.state)
        if to_state not in allowed:
            raise IllegalTransition(self.id, self.state, to_state, allowed)
        record = TransitionRecord(self.id, self.state, to_state, required_text("by", by), reason, at)
        self.state = to_state
        self.touch(at)
        event = events.StoryTransitioned(
            story_id=self.id,
            from_state=record.from_state,
            to_state=record.to_state,
            transitioned_by=record.by,
            reason=reason,
        )
        return event, record

    def touch(self, at: datetime) -> None:
        """Mark a change that concerns the story, so that changes to one story are serialized."""
        self.version += 1
        self.updated_at = at

    def ensure_plannable(self) -> None:
        if self.state not in lifecycle.PLANNING_STATES:
            allowed = lifecycle.describe_targets(lifecycle.PLANNING_STATES)
            raise ActionNotAllowed(
                f"story {self.id} is {self.state.value}; plans are proposed and approved only in {allowed}"
            )


class PlanStatus(StrEnum):
    PROPOSED = "PROPOSED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    SUPERSEDED = "SUPERSEDED"  # was approved; a later plan for the same story was approved


@dataclass
class Plan:
    id: str
    story_id: str
    description: str
    acceptance_criteria: list[str]
    technical_notes: str
    roles: list[Role]
    created_by: str
    created_at: datetime
    status: PlanStatus = PlanStatus.PROPOSED
    decided_by: str | None = None
    decided_at: datetime | None = None
    # The PO's notes on approval, or the reason for a rejection.
    verdict_note: str | None = None
    version: int = 1

    def __post_init__(self) -> None:
        if not self.description.strip(BLANK):
            raise InvalidPlan("description", "a plan needs a description")
        if not self.acceptance_criteria:
            raise InvalidPlan("acceptance_criteria", "a plan needs at least one acceptance criterion")
        self.acceptance_criteria = clean_items("acceptance_criteria", self.acceptance_criteria)
        # Roles keep the proposer's order; a role named twice is needed once.
        self.roles = list(dict.fromkeys(Role(role) for role in self.roles))

    def created_event(self) -> events.PlanCreated:
        return events.PlanCreated(
            plan_id=self.id,
            story_id=self.story_id,
            description=self.description,
            acceptance_criteria=list(self.acceptance_criteria),
            technical_notes=self.technical_notes,
            roles=list(self.roles),
            created_by=self.created_by,
        )

    def _decide(self, status: PlanStatus, by: str, note: str, at: datetime) -> None:
        if self.status is not PlanStatus.PROPOSED:
            raise ActionNotAllowed(
                f"plan {self.id} is already {self.status.value}; only a PROPOSED plan can be decided"
            )
        self.status, self.decided_by, self.decided_at = status, required_text("by", by), at
        self.verdict_note = note
        self.version += 1

    def approve(self, *, by: str, notes: str, at: datetime) -> events.PlanApproved:
        self._decide(PlanStatus.APPROVED, by, notes, at)
        return events.PlanApproved(
            story_id=self.story_id,
            plan_id=self.id,
            approved_by=self.decided_by or by,
            roles=list(self.roles),
            notes=notes,
            description=self.description,
            acceptance_criteria=list(self.acceptance_criteria),
            technical_notes=self.technical_notes,
        )

    def reject(self, *, by: str, reason: str, at: datetime) -> events.PlanRejected:
        reason = required_text("reason", reason)
        self._decide(PlanStatus.REJECTED, by, reason, at)
        return events.PlanRejected(
            story_id=self.story_id, plan_id=self.id, rejected_by=self.decided_by or by, reason=reason
        )

    def supersede(self) -> None:
        self.status = PlanStatus.SUPERSEDED
        self.version += 1


class DecisionStatus(StrEnum):
    PROPOSED = "PROPOSED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@dataclass
class Decision:
    id: str
    story_id: str
    title: str
    description: str
    proposed_by: str
    created_at: datetime
    task_id: str | None = None
    affects: list[str] = field(default_factory=list)
    status: DecisionStatus = DecisionStatus.PROPOSED
    decided_by: str | None = None
    decided_at: datetime | None = None
    rationale: str | None = None
    version: int = 1

    def _decide(self, status: DecisionStatus, by: str, rationale: str, at: datetime) -> dict[str, object]:
        if self.status is not DecisionStatus.PROPOSED:
            raise ActionNotAllowed(
                f"decision {self.id} is already {self.status.value}; only a PROPOSED decision can be decided"
            )
        self.status, self.decided_by = status, required_text("by", by)
        self.rationale, self.decided_at = required_text("rationale", rationale), at
        self.version += 1
        return {
            "decision_id": self.id,
            "story_id": self.story_id,
            "task_id": self.task_id,
            "title": self.title,
            "rationale": self.rationale,
            "decided_by": self.decided_by,
            "affects": list(self.affects),
        }

    @property
    def is_approval(self) -> bool:
        """An approval a workspace asked for (ADR 0612): its verdict is also sent to the waiting task."""
        return self.id.startswith(events.APPROVAL_ID_PREFIX) and self.task_id is not None

    def approval_verdict(self) -> events.ApprovalGranted | events.ApprovalRefused | None:
        """The verdict for the waiting task, once an approval is decided; None for other decisions."""
        if not self.is_approval or self.status is DecisionStatus.PROPOSED:
            return None
        model = events.ApprovalGranted if self.status is DecisionStatus.APPROVED else events.ApprovalRefused
        return model(
            approval_id=self.id,
            task_id=self.task_id or "",
            story_id=self.story_id,
            approved=self.status is DecisionStatus.APPROVED,
            reason=self.rationale or "",
            decided_by=self.decided_by or "",
        )

    def approve(self, *, by: str, rationale: str, at: datetime) -> events.DecisionApproved:
        return events.DecisionApproved(**self._decide(DecisionStatus.APPROVED, by, rationale, at))

    def reject(self, *, by: str, rationale: str, at: datetime) -> events.DecisionRejected:
        return events.DecisionRejected(**self._decide(DecisionStatus.REJECTED, by, rationale, at))
