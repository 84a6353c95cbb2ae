"""Publishing what a state's outbox owes, each message under its deterministic event id.

The id is `deterministic_event_id(message.key, message.at)`, both stored with the message: a crash
between the state write and the publish, or two replicas flushing the same outbox, publish the same
id twice, which JetStream drops within its duplicate window and every consumer recognises after it.
"""

from __future__ import annotations

from collections.abc import Sequence

from swe_fleet.backbone.publisher import EventPublisher, PublishFailed
from swe_fleet.errors import TransientError
from swe_fleet.events.envelope import Envelope, deterministic_event_id
from swe_fleet.orchestrator.domain.messages import Outgoing


def event_id_of(message: Outgoing) -> str:
    return deterministic_event_id(message.key, message.moment)


class OutboxPublisher:
    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    @property
    def producer(self) -> str:
        return self._publisher.producer

    async def publish(self, messages: Sequence[Outgoing], *, correlation_id: str | None) -> list[str]:
        """Publish in order; return the keys published (all of them, or raise TransientError)."""
        published = []
        for message in messages:
            event_id = event_id_of(message)
            envelope = Envelope.new(
                message.subject,
                message.model(),
                producer=self._publisher.producer,
                correlation_id=correlation_id or event_id,
                event_id=event_id,
                occurred_at=message.moment,
            )
            try:
                await self._publisher.publish_envelope(envelope)
            except PublishFailed as error:
                raise TransientError(str(error)) from error
            published.append(message.key)
        return published
