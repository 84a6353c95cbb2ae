"""Every subject the fleet publishes or consumes, named once."""

# Planning: the Product Owner's system of record.
PROJECT_CREATED = "planning.project.created"
EPIC_CREATED = "planning.epic.created"
STORY_CREATED = "planning.story.created"
STORY_TRANSITIONED = "planning.story.transitioned"
# The PO set (or cleared) a story's token budget: the orchestrator holds its councils to it.
STORY_TOKEN_BUDGET_SET = "planning.story.token_budget_set"
PLAN_CREATED = "planning.plan.created"
PLAN_APPROVED = "planning.plan.approved"
PLAN_REJECTED = "planning.plan.rejected"
DECISION_APPROVED = "planning.decision.approved"
DECISION_REJECTED = "planning.decision.rejected"
# A task's work is asked for again (the QA review requested changes, the PO sent the story back).
TASK_REWORK_REQUESTED = "planning.task.rework_requested"
# The PO's verdict on a workspace's approval request (ADR 0612); `planning.approval.*` takes both.
APPROVAL_GRANTED = "planning.approval.granted"
APPROVAL_REFUSED = "planning.approval.refused"
APPROVAL_VERDICTS = "planning.approval.*"

# Orchestration: tasks, councils and dispatch.
TASKS_DERIVED = "orchestration.tasks.derived"
TASK_DERIVATION_FAILED = "orchestration.tasks.derivation_failed"
DELIBERATION_COMPLETED = "orchestration.deliberation.completed"
TASK_DISPATCHED = "orchestration.task.dispatched"
DELIBERATION_FAILED = "orchestration.deliberation.failed"
DELIBERATION_CANCELLED = "orchestration.deliberation.cancelled"
# A council was cut to the story's token budget, waits for the PO to raise it, or resumed after a raise.
DELIBERATION_BUDGETED = "orchestration.deliberation.budgeted"
# The orchestrator got an agent worker's answer to a `fleet verify` probe: the whole path answered.
PROBE_ANSWERED = "orchestration.probe.answered"

# Agent work: commands shared by any number of workers, and their answers.
AGENT_CMD_DERIVE = "agent.cmd.derive"
AGENT_CMD_GENERATE = "agent.cmd.generate"
AGENT_CMD_CRITIQUE = "agent.cmd.critique"
AGENT_CMD_REVISE = "agent.cmd.revise"
AGENT_CMD_SCORE = "agent.cmd.score"
# `fleet verify`'s probe: workers fetch the probe story's context and answer, no LLM call.
AGENT_CMD_PROBE = "agent.cmd.probe"
AGENT_RESPONSE_COMPLETED = "agent.response.completed"
AGENT_RESPONSE_FAILED = "agent.response.failed"

# Context.
CONTEXT_UPDATED = "context.updated"

# Workspaces: dispatched tasks carried out on the story's branch.
WORKSPACE_TASK_STARTED = "workspace.task.started"
WORKSPACE_TOOL_CALLED = "workspace.tool.called"
WORKSPACE_TASK_COMPLETED = "workspace.task.completed"
WORKSPACE_TASK_FAILED = "workspace.task.failed"
# The QA review of a committed change (issue 12): approve or request changes.
WORKSPACE_REVIEW_COMPLETED = "workspace.review.completed"
# An agent asked for a command its policy runs only with the PO's approval: the task waits (ADR 0612).
WORKSPACE_APPROVAL_REQUESTED = "workspace.approval.requested"

# Operations: what a person did by hand to the backbone (a dead letter replayed or discarded), and who.
DEAD_LETTER_REPLAYED = "operations.dead_letter.replayed"
DEAD_LETTER_DISCARDED = "operations.dead_letter.discarded"

# Dead letters: `dlq.<original subject>`.
DEAD_LETTER_PREFIX = "dlq"


def dead_letter_subject(original_subject: str) -> str:
    """The DLQ subject for a message that failed on `original_subject`."""
    return f"{DEAD_LETTER_PREFIX}.{original_subject or 'unknown'}"


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)
