"""Typed payload models, one per subject. Producers build them; consumers validate against them.

Payloads ignore unknown fields so that producers may add optional fields without breaking
older consumers; a field a consumer needs and does not find is a validation error.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field


class StoryState(StrEnum):
    DRAFT = "DRAFT"
    PO_REVIEW = "PO_REVIEW"
    READY_FOR_PLANNING = "READY_FOR_PLANNING"
    PLANNED = "PLANNED"
    READY_FOR_EXECUTION = "READY_FOR_EXECUTION"
    IN_PROGRESS = "IN_PROGRESS"
    CODE_REVIEW = "CODE_REVIEW"
    TESTING = "TESTING"
    READY_TO_REVIEW = "READY_TO_REVIEW"
    ACCEPTED = "ACCEPTED"
    DONE = "DONE"
    ARCHIVED = "ARCHIVED"
    CARRY_OVER = "CARRY_OVER"


class Role(StrEnum):
    DEV = "DEV"
    ARCHITECT = "ARCHITECT"
    QA = "QA"
    DEVOPS = "DEVOPS"
    DATA = "DATA"


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


Id = Field(min_length=1, max_length=200)

# ---------------------------------------------------------------- planning


class ProjectCreated(Payload):
    project_id: str = Id
    name: str = Field(min_length=1)
    description: str = ""
    created_by: str = Field(min_length=1)
    # The project's git repository (a path or URL) and how its tests run; None: no code to work on.
    repo: str | None = None
    base_branch: str = "main"
    test_command: str | None = None


class EpicCreated(Payload):
    epic_id: str = Id
    project_id: str = Id
    title: str = Field(min_length=1)
    description: str = ""
    created_by: str = Field(min_length=1)


class StoryCreated(Payload):
    story_id: str = Id
    epic_id: str | None = None
    title: str = Field(min_length=1)
    brief: str = ""
    acceptance_criteria: list[str] = Field(default_factory=list)
    owner: str = Field(min_length=1)
    state: StoryState = StoryState.DRAFT
    created_by: str = Field(min_length=1)


class StoryTransitioned(Payload):
    story_id: str = Id
    from_state: StoryState
    to_state: StoryState
    transitioned_by: str = Field(min_length=1)
    reason: str | None = None


class StoryTokenBudgetSet(Payload):
    """The tokens a story's agents may spend (None: the fleet's default, FLEET_STORY_TOKEN_BUDGET)."""

    story_id: str = Id
    token_budget: int | None = Field(default=None, ge=1)
    set_by: str = Field(min_length=1)


class PlanCreated(Payload):
    plan_id: str = Id
    story_id: str = Id
    description: str = Field(min_length=1)
    acceptance_criteria: list[str] = Field(min_length=1)
    technical_notes: str = ""
    roles: list[Role] = Field(default_factory=list)
    created_by: str = Field(min_length=1)


class PlanApproved(Payload):
    story_id: str = Id
    plan_id: str = Id
    approved_by: str = Field(min_length=1)
    roles: list[Role] = Field(default_factory=list)
    notes: str = ""
    # The plan's content travels with its approval so consumers need no call back to Planning.
    description: str = ""
    acceptance_criteria: list[str] = Field(default_factory=list)
    technical_notes: str = ""


class PlanRejected(Payload):
    story_id: str = Id
    plan_id: str = Id
    rejected_by: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class DecisionMade(Payload):
    decision_id: str = Id
    story_id: str = Id
    task_id: str | None = None
    title: str = Field(min_length=1)
    rationale: str = Field(min_length=1)
    decided_by: str = Field(min_length=1)
    affects: list[str] = Field(
        default_factory=list, description="ids of tasks or stories the decision affects"
    )
    supersedes: list[str] = Field(
        default_factory=list, description="ids of earlier decisions this one replaces (they become history)"
    )


class DecisionApproved(DecisionMade):
    pass


class DecisionRejected(DecisionMade):
    pass


# ---------------------------------------------------------------- orchestration


class TaskSpec(Payload):
    task_id: str = Id
    title: str = Field(min_length=1)
    description: str = ""
    role: Role
    estimate_hours: float = Field(ge=0, le=1000)
    depends_on: list[str] = Field(default_factory=list)
    # The short key the deriving agent gave the task (T1, T2...); the task id is derived from it.
    key: str = ""


class TasksDerived(Payload):
    story_id: str = Id
    plan_id: str = Id
    tasks: list[TaskSpec] = Field(min_length=1)
    attempts: int = Field(ge=1)


class TaskDerivationFailed(Payload):
    story_id: str = Id
    plan_id: str = Id
    reason: str = Field(min_length=1)
    attempts: int = Field(ge=0)


class Critique(Payload):
    critique_id: str = Id
    author_agent_id: str = Id
    content: str


class ProposalRecord(Payload):
    proposal_id: str = Id
    agent_id: str = Id
    content: str
    revision: int = Field(ge=0, default=0)
    critiques: list[Critique] = Field(default_factory=list)
    summary: str = ""
    # selected | candidate | disqualified (its author failed to generate or revise it)
    status: str = "candidate"


class CriterionScore(Payload):
    criterion: str
    score: float = Field(ge=0, le=10)
    weight: float = Field(ge=0, default=1.0)
    reason: str = ""


class ObjectiveCheck(Payload):
    name: str
    passed: bool
    detail: str = ""


class ScoreRecord(Payload):
    proposal_id: str = Id
    judge_agent_id: str | None = None
    criteria: list[CriterionScore] = Field(default_factory=list)
    checks: list[ObjectiveCheck] = Field(default_factory=list)
    total: float
    # True for the one record per proposal that combines the judges and the checks (judge_agent_id
    # None): its total is what selection ranks. Other records are single judges' rubric scores.
    aggregate: bool = False


class DeliberationDecision(Payload):
    decision_id: str = Id
    title: str
    rationale: str
    decided_by: str
    supersedes: list[str] = Field(
        default_factory=list, description="ids of earlier decisions this one replaces (they become history)"
    )


class AgentFailure(Payload):
    agent_id: str
    phase: str
    error: str


class DeliberationCompleted(Payload):
    deliberation_id: str = Id
    story_id: str = Id
    plan_id: str | None = None
    task_id: str = Id
    role: Role
    rounds: int = Field(ge=0)  # 0: proposals went straight to the judges
    agents: list[str] = Field(min_length=1)
    proposals: list[ProposalRecord] = Field(min_length=1)
    scores: list[ScoreRecord] = Field(default_factory=list)
    winner_proposal_id: str = Id
    winner_agent_id: str = Id
    decisions: list[DeliberationDecision] = Field(default_factory=list)
    failures: list[AgentFailure] = Field(default_factory=list)


class DeliberationFailed(Payload):
    """Every agent of the council failed or timed out: there is no proposal to select."""

    deliberation_id: str = Id
    story_id: str = Id
    plan_id: str | None = None
    task_id: str = Id
    role: Role
    agents: list[str] = Field(min_length=1)
    reason: str = Field(min_length=1)
    failures: list[AgentFailure] = Field(default_factory=list)


class DeliberationCancelled(Payload):
    """The story moved back (DRAFT, CARRY_OVER, ARCHIVED) while its task was being deliberated."""

    deliberation_id: str = Id
    story_id: str = Id
    plan_id: str | None = None
    task_id: str = Id
    role: Role
    reason: str = Field(min_length=1)
    story_state: StoryState | None = None


class DeliberationBudgeted(Payload):
    """The story's token budget shaped a council: cut to fewer agents or rounds, waiting, or resumed."""

    deliberation_id: str = Id
    story_id: str = Id
    plan_id: str | None = None
    task_id: str = Id
    role: Role
    verdict: Literal["cut", "waiting", "resumed"]
    agents: int = Field(ge=1)  # the council that runs (or, waiting, the configured one)
    rounds: int = Field(ge=0)
    configured_agents: int = Field(ge=1)
    configured_rounds: int = Field(ge=0)
    token_budget: int = Field(ge=0)
    committed_tokens: int = Field(ge=0)  # spent by the story, plus what its running councils may spend
    estimated_tokens: int = Field(ge=0)  # what the council that runs may spend (waiting: the smallest)
    reason: str = Field(min_length=1)


class TaskDispatched(Payload):
    task_id: str = Id
    story_id: str = Id
    role: Role
    agent_id: str = Id
    deliberation_id: str | None = None
    proposal_id: str | None = None
    # A re-dispatch (ADR 0703): the task whose change is reworked, and why (the review, the PO's reason).
    rework_of: str | None = Field(default=None, min_length=1, max_length=200)
    rework_reason: str = Field(default="", max_length=8000)


class ReworkSource(StrEnum):
    REVIEW = "review"  # the QA review requested changes
    SEND_BACK = "send_back"  # the PO sent the story back


class TaskReworkRequested(Payload):
    """Planning asks for a task's work again: a new attempt `rework_task_id` (derived from the task and
    its attempt number) with the dispatch of the original; the orchestrator re-dispatches it."""

    story_id: str = Id
    task_id: str = Id  # the task as derived
    rework_task_id: str = Id  # `<task_id>~<attempt>`
    attempt: int = Field(ge=2)
    source: ReworkSource
    reason: str = Field(min_length=1, max_length=8000)
    role: Role
    agent_id: str = Id
    deliberation_id: str | None = None
    proposal_id: str | None = None


# ---------------------------------------------------------------- agents


class CommandKind(StrEnum):
    """What an agent is asked to do; `events.agent_protocol` says what each kind carries and answers."""

    DERIVE = "derive"  # inputs: {"story": {...}, "plan": {...}, "roles": [Role...]}
    GENERATE = "generate"  # inputs: {"task": TaskSpec, "rubric": [RubricCriterion]}
    CRITIQUE = "critique"  # inputs: {"task", "rubric", "proposal_id", "proposal": Proposal}
    REVISE = "revise"  # inputs: {"task", "rubric", "proposal": Proposal, "critiques": [Critique]}
    SCORE = "score"  # inputs: {"task", "rubric", "proposal_id", "proposal": Proposal}
    # `fleet verify`'s probe: inputs {"plan_id"}; answered after fetching the story's context, no LLM.
    PROBE = "probe"


class AgentCommand(Payload):
    command_id: str = Id
    kind: CommandKind
    story_id: str = Id
    task_id: str | None = None
    deliberation_id: str | None = None
    role: Role
    agent_id: str = Id
    round: int = Field(ge=0, default=0)
    phase: str = ""
    # What the agent works on: the task, the peer proposal to critique, the critiques to answer...
    inputs: dict[str, Any] = Field(default_factory=dict)
    # The JSON Schema the answer must satisfy, when the answer is structured.
    output_schema: dict[str, Any] | None = None
    token_budget: int = Field(ge=64, default=2048)
    # How long after `occurred_at` the sender waits for the answer: a worker does not spend LLM time
    # on a command whose sender has already given up on it.
    deadline_seconds: float | None = Field(default=None, gt=0)


class LlmUsage(Payload):
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Summed over every LLM call the command needed (repairs included); `attempts` counts those calls.
    latency_ms: float = 0.0
    attempts: int = 1
    # When the first LLM call started and the last one ended (wall clock, UTC): the orchestration
    # overhead benchmark subtracts these intervals from a deliberation's wall time.
    started_at: datetime | None = None
    ended_at: datetime | None = None


class AgentResponse(Payload):
    """What every answer to an `AgentCommand` carries: which command it answers, and which worker."""

    command_id: str = Id
    kind: CommandKind
    story_id: str = Id
    task_id: str | None = None
    deliberation_id: str | None = None
    agent_id: str = Id
    worker_id: str = ""
    # The role the command asked for (copied from it by `answering`): token use is rolled up by role.
    role: Role | None = None

    @classmethod
    def answering(cls, command: AgentCommand, *, worker_id: str, **fields: Any) -> Self:
        """This kind of answer to `command`: the fields it shares with the command are the command's."""
        shared = {name: getattr(command, name) for name in _ANSWERED if name != "worker_id"}
        return cls(**shared, worker_id=worker_id, **fields)

    @property
    def failure(self) -> str | None:
        """Why the agent gave no answer (`AgentResponseFailed`); None when it answered."""
        return None


_ANSWERED = tuple(AgentResponse.model_fields)


class AgentResponseCompleted(AgentResponse):
    output: dict[str, Any]
    usage: LlmUsage = Field(default_factory=LlmUsage)
    context_version: str | None = None
    # Set when the agent answered without its surgical context (Context service down, story unknown,
    # role refused by the scope policy...): why, in one line.
    context_error: str | None = None


class AgentResponseFailed(AgentResponse):
    error: str
    attempts: int = Field(ge=0, default=1)
    # The LLM calls the failed command still made (none when it failed before calling the LLM).
    usage: LlmUsage | None = None
    # As on a completed answer: the context the agent had, or why it had none.
    context_version: str | None = None
    context_error: str | None = None

    @property
    def failure(self) -> str:
        return self.error


class ProbeAnswered(Payload):
    """An agent worker answered a `fleet verify` probe command and the orchestrator took the answer."""

    story_id: str = Id
    plan_id: str = ""
    command_id: str = Id
    worker_id: str = ""
    answered: bool  # False: the worker sent a failed response (`error` says why)
    context_version: str | None = None
    context_error: str | None = None
    error: str | None = None


# ---------------------------------------------------------------- context


class ContextUpdated(Payload):
    story_ids: list[str]
    version: int = Field(ge=0)
    events_applied: int = Field(ge=0)


# ---------------------------------------------------------------- workspace


class ToolOutcome(StrEnum):
    OK = "ok"  # the tool did what was asked
    ERROR = "error"  # it ran and failed (file not found, command exit status != 0, bad patch...)
    DENIED = "denied"  # the role's policy does not allow it
    TIMEOUT = "timeout"  # killed at its deadline


class WorkspaceTaskStarted(Payload):
    task_id: str = Id
    story_id: str = Id
    role: Role
    agent_id: str = Id
    branch: str = Field(min_length=1)
    # The branch head the workspace started from (the base branch's head when the branch was new).
    base_sha: str = ""
    attempt: int = Field(ge=1, default=1)


class WorkspaceToolCalled(Payload):
    task_id: str = Id
    story_id: str = Id
    step: int = Field(ge=0)
    tool: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)
    outcome: ToolOutcome
    # Truncated and redacted of secrets before it leaves the workspace.
    output: str = ""
    truncated: bool = False
    duration_ms: float = Field(ge=0, default=0.0)
    attempt: int = Field(ge=1, default=1)
    # Kinds of instruction-like text found in what the tool gave back (a repository file telling the
    # agent to ignore its rules, say): recorded for a person to see, never obeyed.
    suspected_injection: list[str] = Field(default_factory=list)


class CommitRecord(Payload):
    sha: str = Field(min_length=4, max_length=64)
    message: str


class DiffStats(Payload):
    files: list[str] = Field(default_factory=list)
    insertions: int = Field(ge=0, default=0)
    deletions: int = Field(ge=0, default=0)


class SuiteResult(Payload):
    """One run of the project's test command in the workspace."""

    ok: bool  # the command exited 0
    passed: int = Field(ge=0, default=0)
    failed: int = Field(ge=0, default=0)
    # The failing tests' names (node ids) as the runner printed them.
    failing: list[str] = Field(default_factory=list)
    # The end of the runner's output, redacted and truncated.
    output_tail: str = ""


class TokenUsage(Payload):
    prompt_tokens: int = Field(ge=0, default=0)
    completion_tokens: int = Field(ge=0, default=0)


class WorkspaceTaskResult(Payload):
    """What `workspace.task.completed` and `workspace.task.failed` share."""

    task_id: str = Id
    story_id: str = Id
    role: Role
    agent_id: str = Id
    branch: str = Field(min_length=1)
    commits: list[CommitRecord] = Field(default_factory=list)
    diff: DiffStats = Field(default_factory=DiffStats)
    tests_before: SuiteResult | None = None
    tests_after: SuiteResult | None = None
    summary: str = ""
    usage: TokenUsage = Field(default_factory=TokenUsage)
    steps: int = Field(ge=0, default=0)
    duration_ms: float = Field(ge=0, default=0.0)
    # The change as a unified diff (redacted, cut to a size an event carries); empty when none.
    patch: str = ""
    patch_truncated: bool = False
    # Where the time went: the model's answers and the project's own tests (the rest is the fleet's).
    llm_ms: float = Field(ge=0, default=0.0)
    tests_ms: float = Field(ge=0, default=0.0)


class WorkspaceTaskCompleted(WorkspaceTaskResult):
    """The change is committed (and pushed) on `branch`; `commits` lists it."""


class WorkspaceTaskFailed(WorkspaceTaskResult):
    """Nothing changed on `branch`: `commits` is empty; `reason` says why in one line."""

    reason: str = Field(min_length=1)


# ---------------------------------------------------------------- approvals (ADR 0612)

# An approval's id is a Decision's id in Planning: this prefix tells an approval from other decisions.
APPROVAL_ID_PREFIX = "APR-"


class ApprovalRequested(Payload):
    """A task's agent asked for `command`, which its role's policy runs only once the PO approves it."""

    approval_id: str = Field(min_length=5, max_length=200, pattern=r"^APR-[0-9a-f]+$")
    task_id: str = Id
    story_id: str = Id
    role: Role
    agent_id: str = Id
    command: str = Field(min_length=1, max_length=4000)
    # Why it needs approval (the policy rule it matched).
    reason: str = Field(min_length=1, max_length=4000)


class ApprovalDecided(Payload):
    """The PO's verdict on an approval: granted runs the command, refused tells the agent so."""

    approval_id: str = Field(min_length=5, max_length=200, pattern=r"^APR-[0-9a-f]+$")
    task_id: str = Id
    story_id: str = Id
    approved: bool
    reason: str = Field(min_length=1)
    decided_by: str = Field(min_length=1)


class ApprovalGranted(ApprovalDecided):
    pass


class ApprovalRefused(ApprovalDecided):
    pass


class DeadLetterHandled(Payload):
    """A person replayed or discarded a dead letter: which one, why it had failed, and who did it."""

    dead_letter_seq: int = Field(ge=1)
    original_subject: str = Field(min_length=1)
    failure_reason: str = ""
    by: str = Field(min_length=1)
    note: str = ""
    replayed_as_seq: int | None = None


class ReviewVerdict(StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"


class WorkspaceReviewCompleted(Payload):
    """A QA review of one task's committed change: the diff and its tests against the task and the story."""

    review_id: str = Id
    task_id: str = Id
    story_id: str = Id
    reviewer: str = Field(min_length=1)  # the reviewing agent
    verdict: ReviewVerdict
    summary: str = Field(min_length=1)
    findings: list[str] = Field(default_factory=list)
    # The commit reviewed (the task's last commit on the story branch).
    head: str | None = None
    # Checks made without the model (tests after the change, a change present); a failed one decides.
    checks: list[ObjectiveCheck] = Field(default_factory=list)
