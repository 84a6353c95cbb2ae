"""A task asked for again (ADR 0703): its next attempt dispatched as the task was, with the reason.

Planning decides that a task's work is needed again (the QA review requested changes within its
bound, or the PO sent the story back) and names the attempt, `<task>~<n>`; the orchestrator turns
that into the dispatch the workspace carries out. The dispatch's event id follows from the attempt's
id and the request's moment, so a redelivered request publishes the same event (JetStream drops it).
"""

from __future__ import annotations

from swe_fleet.events import subjects
from swe_fleet.events.payloads import TaskDispatched, TaskReworkRequested
from swe_fleet.orchestrator.domain.messages import Outgoing


def redispatch(request: TaskReworkRequested, *, at: float, correlation_id: str | None) -> Outgoing:
    """The dispatch of the rework: the original's role, agent and plan; the reason for the agent."""
    dispatched = TaskDispatched(
        task_id=request.rework_task_id,
        story_id=request.story_id,
        role=request.role,
        agent_id=request.agent_id,
        deliberation_id=request.deliberation_id,
        proposal_id=request.proposal_id,
        rework_of=request.task_id,
        rework_reason=request.reason,
    )
    return Outgoing.of(subjects.TASK_DISPATCHED, dispatched, request.rework_task_id, at, correlation_id)
