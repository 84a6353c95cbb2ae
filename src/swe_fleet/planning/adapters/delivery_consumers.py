"""Planning's durable consumers of execution's results: the story moves on what its tasks report.

One durable per subject (a single `filter_subject`: servers before 2.10 ignore `filter_subjects`).
Each event is one transaction (`planning.app.delivery`); a stale-version conflict with a concurrent
change is retried by the runtime like any handler failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from nats.aio.client import Client as NATS

from swe_fleet.backbone.consumer import ConsumerRuntime, Delivery
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.events import subjects
from swe_fleet.events.payloads import (
    ApprovalRequested,
    DeliberationFailed,
    Payload,
    StoryState,
    TaskDerivationFailed,
    TaskDispatched,
    TasksDerived,
    WorkspaceReviewCompleted,
    WorkspaceTaskCompleted,
    WorkspaceTaskFailed,
    WorkspaceTaskStarted,
)
from swe_fleet.events.streams import stream_for_subject
from swe_fleet.planning.app import approvals as approvals_uc
from swe_fleet.planning.app import delivery as uc
from swe_fleet.planning.app.planning_app import PlanningApp
from swe_fleet.planning.app.ports import UnitOfWork
from swe_fleet.planning.domain.delivery import REVIEW_ROUNDS

P = TypeVar("P", bound=Payload)
Record = Callable[[P, str, UnitOfWork], list[StoryState]]


def _spec(subject: str, what: str) -> ConsumerSpec:
    stream = stream_for_subject(subject)
    if stream is None:  # a subject outside every stream is a bug in the catalogue
        raise RuntimeError(f"no stream holds {subject}")
    return ConsumerSpec(
        durable="planning-" + subject.replace(".", "-").replace("_", "-"),
        stream=stream.name,
        filter_subject=subject,
        description=f"Planning: {what}",
        ack_wait_seconds=10.0,
        batch_size=50,
    )


TASKS_DERIVED = _spec(subjects.TASKS_DERIVED, "learn a story's tasks")
DERIVATION_FAILED = _spec(subjects.TASK_DERIVATION_FAILED, "no tasks derived; the story stays, with why")
DELIBERATION_FAILED = _spec(subjects.DELIBERATION_FAILED, "a council found no winner; the task failed")
TASK_DISPATCHED = _spec(subjects.TASK_DISPATCHED, "a dispatched task starts execution (-> IN_PROGRESS)")
TASK_STARTED = _spec(subjects.WORKSPACE_TASK_STARTED, "a workspace started a task (-> IN_PROGRESS)")
TASK_COMPLETED = _spec(subjects.WORKSPACE_TASK_COMPLETED, "a task's change committed; move the story on")
REVIEW_COMPLETED = _spec(
    subjects.WORKSPACE_REVIEW_COMPLETED, "a QA review's verdict; move the story on or back"
)
TASK_FAILED = _spec(subjects.WORKSPACE_TASK_FAILED, "a task failed; the story stays, with the reason")
APPROVAL_REQUESTED = _spec(
    subjects.WORKSPACE_APPROVAL_REQUESTED, "a task waits for the PO's approval: a pending decision"
)
CONSUMERS = (
    TASKS_DERIVED,
    DERIVATION_FAILED,
    DELIBERATION_FAILED,
    TASK_DISPATCHED,
    TASK_STARTED,
    TASK_COMPLETED,
    TASK_FAILED,
    REVIEW_COMPLETED,
    APPROVAL_REQUESTED,
)


def _handler(app: PlanningApp, record: Record[P]) -> Callable[[Sequence[Delivery[P]]], Awaitable[None]]:
    async def handle(deliveries: Sequence[Delivery[P]]) -> None:
        for delivery in deliveries:
            event_id = delivery.envelope.event_id

            def apply(payload: P, uow: UnitOfWork, event_id: str = event_id) -> list[StoryState]:
                return record(payload, event_id, uow)

            await app.execute(apply, delivery.payload)

    return handle


def delivery_consumers(
    nc: NATS, app: PlanningApp, dead_letters: DeadLetterWriter, *, review_rounds: int = REVIEW_ROUNDS
) -> list[ConsumerRuntime[Any]]:
    # One statement each: mypy checks each handler against its payload model.
    derived = ConsumerRuntime(
        nc, TASKS_DERIVED, _handler(app, uc.record_tasks_derived), dead_letters, payload_type=TasksDerived
    )
    dispatched = ConsumerRuntime(
        nc,
        TASK_DISPATCHED,
        _handler(app, uc.record_execution_started),
        dead_letters,
        payload_type=TaskDispatched,
    )
    started = ConsumerRuntime(
        nc,
        TASK_STARTED,
        _handler(app, uc.record_execution_started),
        dead_letters,
        payload_type=WorkspaceTaskStarted,
    )
    completed = ConsumerRuntime(
        nc,
        TASK_COMPLETED,
        _handler(app, uc.record_task_completed),
        dead_letters,
        payload_type=WorkspaceTaskCompleted,
    )
    failed = ConsumerRuntime(
        nc, TASK_FAILED, _handler(app, uc.record_task_failed), dead_letters, payload_type=WorkspaceTaskFailed
    )
    not_derived = ConsumerRuntime(
        nc,
        DERIVATION_FAILED,
        _handler(app, uc.record_derivation_failed),
        dead_letters,
        payload_type=TaskDerivationFailed,
    )
    no_winner = ConsumerRuntime(
        nc,
        DELIBERATION_FAILED,
        _handler(app, uc.record_deliberation_failed),
        dead_letters,
        payload_type=DeliberationFailed,
    )
    reviewed = ConsumerRuntime(
        nc,
        REVIEW_COMPLETED,
        _handler(app, partial(uc.record_review, rounds=review_rounds)),
        dead_letters,
        payload_type=WorkspaceReviewCompleted,
    )
    approval = ConsumerRuntime(
        nc,
        APPROVAL_REQUESTED,
        _handler(app, approvals_uc.record_approval_requested),
        dead_letters,
        payload_type=ApprovalRequested,
    )
    return [derived, not_derived, no_winner, dispatched, started, completed, failed, reviewed, approval]
