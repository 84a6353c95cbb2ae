"""Tasks that wait for the Product Owner: parked on an approval request, carried out again on the verdict.

    agent asks for `pip install x` (policy: requires_approval)
      -> the loop stops; the task is parked in the approval store (its dispatch kept), the checkout
         dropped, `workspace.approval.requested` published (event id from the approval id: asked once)
      -> Planning records a pending Decision; the PO approves or refuses it
      -> `planning.approval.granted|refused` -> ApprovalResumer records the verdict and, when no approval
         of the task is pending any more, carries the task out again from its dispatch: the agent finds
         the verdict (the command runs, or it is told the refusal) and goes on.

Durable through restarts: the parked task is in a JetStream KV bucket and the verdict is a message on
a durable consumer, acked only once the task was carried out (its result is then in the ledger).
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from swe_fleet.backbone.consumer import Delivery
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events import streams, subjects
from swe_fleet.events.envelope import Envelope, decode_event, deterministic_event_id, encode_event
from swe_fleet.events.payloads import ApprovalDecided, ApprovalRequested, TaskDispatched
from swe_fleet.workspace.app.agent_loop import Step
from swe_fleet.workspace.app.execution_ports import ApprovalStore
from swe_fleet.workspace.domain.approvals import Approval, ApprovalConflict, ParkedTask, approval_id
from swe_fleet.workspace.domain.policy import split_command

log = logging.getLogger(__name__)

RESUME_DURABLE = "workspace-approvals"


def verdict_consumer_spec(*, ack_wait_seconds: float = 60.0) -> ConsumerSpec:
    return ConsumerSpec(
        durable=RESUME_DURABLE,
        stream=streams.PLANNING_EVENTS,
        filter_subject=subjects.APPROVAL_VERDICTS,
        description="Workspaces: record the PO's verdict on an approval and carry its task out again",
        ack_wait_seconds=ack_wait_seconds,
        max_deliver=10,
        failure_deliveries=5,
        retry_delays_seconds=(5.0, 30.0, 60.0),
        batch_size=1,
        fetch_wait_seconds=2.0,
        drain_grace_seconds=1.0,
    )


@dataclass(frozen=True)
class Dispatch:
    """A dispatched task as the executor needs it: from a delivery, or from a parked task's record."""

    envelope: Envelope
    payload: TaskDispatched
    num_delivered: int = 1


class ApprovalDesk:
    """Parks a task on an approval and asks Planning for it; tells whether a task still waits."""

    def __init__(self, store: ApprovalStore, publisher: EventPublisher, redact: Callable[[str], str]) -> None:
        self._store = store
        self._publisher = publisher
        self._redact = redact

    async def record(self, task_id: str) -> ParkedTask | None:
        return await self._store.get(task_id)

    async def park(self, dispatch: Dispatch, step: Step, moment: datetime) -> ParkedTask:
        task = dispatch.payload
        argv = split_command(str(step.call.arguments.get("command", "")))
        approval = Approval(
            approval_id=approval_id(task.task_id, argv),
            command=shlex.join(argv),
            reason=step.observation.summary,
        )
        kept = encode_event(dispatch.envelope).decode()

        def asking(parked: ParkedTask | None) -> ParkedTask:
            return (parked or ParkedTask(task_id=task.task_id, story_id=task.story_id)).asking(approval, kept)

        parked = await self._store.change(task.task_id, asking)
        assert parked is not None  # `asking` always returns one
        await self.ask(dispatch, parked, moment)
        return parked

    async def ask(self, dispatch: Dispatch, parked: ParkedTask, moment: datetime) -> None:
        """Publish a request for each pending approval (again after a crash: the id dedupes it)."""
        task = dispatch.payload
        for approval in parked.pending():
            request = ApprovalRequested(
                approval_id=approval.approval_id,
                task_id=task.task_id,
                story_id=task.story_id,
                role=task.role,
                agent_id=task.agent_id,
                command=self._redact(approval.command)[:4000],
                reason=self._redact(approval.reason)[:4000],
            )
            envelope = self._publisher.envelope(
                subjects.WORKSPACE_APPROVAL_REQUESTED,
                request,
                correlation_id=dispatch.envelope.correlation_id,
                causation_id=dispatch.envelope.event_id,
                event_id=deterministic_event_id(f"approval:{approval.approval_id}", moment),
            )
            await self._publisher.publish_envelope(envelope)


CarryOut = Callable[[Dispatch], Awaitable[None]]


class ApprovalResumer:
    """The verdict consumer's handler: record the verdict; carry the task out once nothing is pending."""

    def __init__(self, store: ApprovalStore, carry_out: CarryOut) -> None:
        self._store = store
        self._carry_out = carry_out

    async def handle(self, deliveries: Sequence[Delivery[ApprovalDecided]]) -> None:
        for delivery in deliveries:
            await self.resume(delivery.payload, delivery.num_delivered)

    async def resume(self, verdict: ApprovalDecided, num_delivered: int = 1) -> None:
        def deciding(parked: ParkedTask | None) -> ParkedTask | None:
            if parked is None or verdict.approval_id not in parked.approvals:
                return None
            return parked.deciding(verdict.approval_id, verdict.approved, verdict.reason, verdict.decided_by)

        try:
            parked = await self._store.change(verdict.task_id, deciding)
        except ApprovalConflict as error:  # Planning decides once: a contrary verdict is not ours to apply
            log.warning("approval %s: %s; verdict ignored", verdict.approval_id, error)
            return
        if parked is None or verdict.approval_id not in parked.approvals:
            log.info("approval %s: no task here waits for it; ignored", verdict.approval_id)
            return
        if parked.pending() or not parked.dispatch:
            return  # another approval of the task is still awaited
        envelope = _decoded_dispatch(parked.dispatch)
        payload = envelope.payload
        assert isinstance(payload, TaskDispatched)
        await self._carry_out(Dispatch(envelope, payload, num_delivered))


def _decoded_dispatch(text: str) -> Envelope:
    return decode_event(subjects.TASK_DISPATCHED, text.encode())
