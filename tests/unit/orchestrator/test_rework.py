"""A task asked for again is dispatched as it was first, under the attempt's id, exactly once."""

from __future__ import annotations

from swe_fleet.events import subjects
from swe_fleet.events.payloads import ReworkSource, Role, TaskDispatched, TaskReworkRequested
from swe_fleet.orchestrator.adapters.outbox_publisher import event_id_of
from swe_fleet.orchestrator.domain.rework import redispatch

REQUEST = TaskReworkRequested(
    story_id="US-1",
    task_id="T-1",
    rework_task_id="T-1~2",
    attempt=2,
    source=ReworkSource.REVIEW,
    reason="the QA review requested changes: strings (add('2', '3') raises)",
    role=Role.DEV,
    agent_id="dev-1",
    deliberation_id="D-1",
    proposal_id="P-1",
)


def test_the_rework_is_dispatched_to_the_same_role_agent_and_plan_with_the_reason() -> None:
    message = redispatch(REQUEST, at=1_700_000_000.0, correlation_id="corr")
    assert message.subject == subjects.TASK_DISPATCHED
    dispatched = message.model()
    assert isinstance(dispatched, TaskDispatched)
    assert dispatched == TaskDispatched(
        task_id="T-1~2",
        story_id="US-1",
        role=Role.DEV,
        agent_id="dev-1",
        deliberation_id="D-1",
        proposal_id="P-1",
        rework_of="T-1",
        rework_reason=REQUEST.reason,
    )


def test_a_redelivered_request_gives_the_same_event_id_and_another_attempt_another() -> None:
    first = redispatch(REQUEST, at=1_700_000_000.0, correlation_id="corr")
    again = redispatch(REQUEST, at=1_700_000_000.0, correlation_id="corr")
    later = REQUEST.model_copy(update={"rework_task_id": "T-1~3", "attempt": 3})
    assert event_id_of(first) == event_id_of(again)
    assert event_id_of(redispatch(later, at=1_700_000_000.0, correlation_id="corr")) != event_id_of(first)
