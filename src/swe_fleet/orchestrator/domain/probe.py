"""`fleet verify`'s probe through the agent path, as messages: no state, no LLM time.

A probe plan approval becomes one probe command to the agent workers, who fetch the probe story's
context as they would for real work and answer without calling the LLM; the answer becomes a
`ProbeAnswered` event. `fleet verify` waits for that event: it proves the orchestrator's consumers,
an agent worker, the Context service and the orchestrator's response consumer all work, in a row.
Both messages' ids follow from what caused them, so a redelivery re-publishes the same ids.
"""

from __future__ import annotations

from swe_fleet.events import subjects
from swe_fleet.events.payloads import (
    AgentCommand,
    AgentResponse,
    AgentResponseCompleted,
    CommandKind,
    PlanApproved,
    ProbeAnswered,
    Role,
    StoryState,
)
from swe_fleet.orchestrator.domain import ids
from swe_fleet.orchestrator.domain.messages import Outgoing

PROBE_AGENT = "probe-agent"
# The phase the approval moves the probe story to; the scope policy lets DEV read it there.
PROBE_PHASE = StoryState.PLANNED.value
PROBE_DEADLINE_SECONDS = 120.0
PROBE_TOKEN_BUDGET = 512


def probe_command(approval: PlanApproved, *, at: float, correlation_id: str | None) -> Outgoing:
    command_id = ids.command_id(approval.plan_id, CommandKind.PROBE.value, 0, PROBE_AGENT)
    command = AgentCommand(
        command_id=command_id,
        kind=CommandKind.PROBE,
        story_id=approval.story_id,
        role=Role.DEV,
        agent_id=PROBE_AGENT,
        phase=PROBE_PHASE,
        inputs={"plan_id": approval.plan_id},
        token_budget=PROBE_TOKEN_BUDGET,
        deadline_seconds=PROBE_DEADLINE_SECONDS,
    )
    return Outgoing.of(subjects.AGENT_CMD_PROBE, command, command_id, at, correlation_id)


def probe_answered(response: AgentResponse, *, plan_id: str, at: float) -> Outgoing:
    completed = response if isinstance(response, AgentResponseCompleted) else None
    answered = ProbeAnswered(
        story_id=response.story_id,
        plan_id=plan_id,
        command_id=response.command_id,
        worker_id=response.worker_id,
        answered=completed is not None,
        context_version=completed.context_version if completed else None,
        context_error=completed.context_error if completed else None,
        error=response.failure,
    )
    return Outgoing.of(subjects.PROBE_ANSWERED, answered, response.command_id, at)
