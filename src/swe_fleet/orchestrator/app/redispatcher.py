"""Re-dispatching reworked tasks: each `planning.task.rework_requested` becomes one dispatch.

Stateless: the dispatch's id is derived from the attempt and the request's moment (both in the
stored request), so a redelivery or a second replica publishes the very same event.
"""

from __future__ import annotations

from collections.abc import Sequence

from swe_fleet.backbone.consumer import Delivery
from swe_fleet.events.payloads import TaskReworkRequested
from swe_fleet.orchestrator.app.ports import OutboxPublisher
from swe_fleet.orchestrator.domain.rework import redispatch


class Redispatcher:
    def __init__(self, outbox: OutboxPublisher) -> None:
        self._outbox = outbox

    async def handle(self, deliveries: Sequence[Delivery[TaskReworkRequested]]) -> None:
        for delivery in deliveries:
            envelope = delivery.envelope
            message = redispatch(
                delivery.payload,
                at=envelope.occurred_at.timestamp(),
                correlation_id=envelope.correlation_id,
            )
            await self._outbox.publish([message], correlation_id=envelope.correlation_id)
