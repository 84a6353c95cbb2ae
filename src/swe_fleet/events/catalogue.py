"""Which payload model and schema versions belong to each subject."""

from __future__ import annotations

from dataclasses import dataclass

from swe_fleet.events import payloads as p
from swe_fleet.events import subjects as s


@dataclass(frozen=True)
class SubjectSpec:
    subject: str
    model: type[p.Payload]
    description: str
    schema_versions: tuple[int, ...] = (1,)

    @property
    def current_version(self) -> int:
        return max(self.schema_versions)


CATALOGUE: dict[str, SubjectSpec] = {
    spec.subject: spec
    for spec in (
        SubjectSpec(s.PROJECT_CREATED, p.ProjectCreated, "A project was created"),
        SubjectSpec(s.EPIC_CREATED, p.EpicCreated, "An epic was created in a project"),
        SubjectSpec(s.STORY_CREATED, p.StoryCreated, "A story was created"),
        SubjectSpec(s.STORY_TRANSITIONED, p.StoryTransitioned, "A story moved between lifecycle states"),
        SubjectSpec(s.STORY_TOKEN_BUDGET_SET, p.StoryTokenBudgetSet, "The PO set a story's token budget"),
        SubjectSpec(s.PLAN_CREATED, p.PlanCreated, "A plan was proposed for a story"),
        SubjectSpec(s.PLAN_APPROVED, p.PlanApproved, "The PO approved a plan"),
        SubjectSpec(s.PLAN_REJECTED, p.PlanRejected, "The PO rejected a plan"),
        SubjectSpec(s.DECISION_APPROVED, p.DecisionApproved, "A decision was approved"),
        SubjectSpec(s.DECISION_REJECTED, p.DecisionRejected, "A decision was rejected"),
        SubjectSpec(
            s.TASK_REWORK_REQUESTED,
            p.TaskReworkRequested,
            "A task's work is asked for again: a review requested changes or the PO sent the story back",
        ),
        SubjectSpec(s.APPROVAL_GRANTED, p.ApprovalGranted, "The PO approved a command a task waits for"),
        SubjectSpec(s.APPROVAL_REFUSED, p.ApprovalRefused, "The PO refused a command a task waits for"),
        SubjectSpec(s.TASKS_DERIVED, p.TasksDerived, "Tasks were derived from an approved plan"),
        SubjectSpec(s.TASK_DERIVATION_FAILED, p.TaskDerivationFailed, "No valid tasks could be derived"),
        SubjectSpec(
            s.DELIBERATION_COMPLETED, p.DeliberationCompleted, "A council finished deliberating a task"
        ),
        SubjectSpec(s.TASK_DISPATCHED, p.TaskDispatched, "A task was dispatched to an agent"),
        SubjectSpec(
            s.DELIBERATION_FAILED, p.DeliberationFailed, "A deliberation ended with no usable proposal"
        ),
        SubjectSpec(
            s.DELIBERATION_CANCELLED,
            p.DeliberationCancelled,
            "A deliberation was stopped because its story moved back",
        ),
        SubjectSpec(
            s.DELIBERATION_BUDGETED,
            p.DeliberationBudgeted,
            "A council was cut to the story's token budget, waits for the PO, or resumed",
        ),
        SubjectSpec(s.AGENT_CMD_DERIVE, p.AgentCommand, "Derive tasks from a plan"),
        SubjectSpec(s.AGENT_CMD_GENERATE, p.AgentCommand, "Generate a proposal for a task"),
        SubjectSpec(s.AGENT_CMD_CRITIQUE, p.AgentCommand, "Critique a peer's proposal"),
        SubjectSpec(s.AGENT_CMD_REVISE, p.AgentCommand, "Revise a proposal after critique"),
        SubjectSpec(s.AGENT_CMD_SCORE, p.AgentCommand, "Score proposals against a rubric"),
        SubjectSpec(s.AGENT_CMD_PROBE, p.AgentCommand, "Fetch a probe story's context and answer (no LLM)"),
        SubjectSpec(s.PROBE_ANSWERED, p.ProbeAnswered, "An agent answered a `fleet verify` probe"),
        SubjectSpec(s.AGENT_RESPONSE_COMPLETED, p.AgentResponseCompleted, "An agent answered a command"),
        SubjectSpec(s.AGENT_RESPONSE_FAILED, p.AgentResponseFailed, "An agent could not answer a command"),
        SubjectSpec(s.CONTEXT_UPDATED, p.ContextUpdated, "The decision graph changed for some stories"),
        SubjectSpec(
            s.WORKSPACE_TASK_STARTED, p.WorkspaceTaskStarted, "A workspace started carrying out a task"
        ),
        SubjectSpec(
            s.WORKSPACE_TOOL_CALLED, p.WorkspaceToolCalled, "An agent called a tool in its workspace"
        ),
        SubjectSpec(
            s.WORKSPACE_TASK_COMPLETED,
            p.WorkspaceTaskCompleted,
            "A task's change was committed on its branch",
        ),
        SubjectSpec(
            s.WORKSPACE_TASK_FAILED, p.WorkspaceTaskFailed, "A task ended with nothing changed on its branch"
        ),
        SubjectSpec(
            s.WORKSPACE_APPROVAL_REQUESTED,
            p.ApprovalRequested,
            "An agent asked for a command that needs the PO's approval; its task waits",
        ),
        SubjectSpec(s.DEAD_LETTER_REPLAYED, p.DeadLetterHandled, "A person replayed a dead letter"),
        SubjectSpec(s.DEAD_LETTER_DISCARDED, p.DeadLetterHandled, "A person discarded a dead letter"),
        SubjectSpec(
            s.WORKSPACE_REVIEW_COMPLETED,
            p.WorkspaceReviewCompleted,
            "A QA review approved a task's change or requested changes",
        ),
    )
}


def model_for_subject(subject: str) -> type[p.Payload] | None:
    spec = CATALOGUE.get(subject)
    return spec.model if spec else None


def subjects_not_of(filter_subject: str, model: type[p.Payload]) -> list[str]:
    """The catalogue's subjects under `filter_subject` whose payload is not a `model`."""
    return [
        spec.subject
        for spec in CATALOGUE.values()
        if s.subject_matches(filter_subject, spec.subject) and not issubclass(spec.model, model)
    ]
