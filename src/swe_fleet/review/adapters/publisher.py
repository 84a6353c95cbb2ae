"""Reviews onto WORKSPACE_EVENTS, with the event id the reviewer chose (duplicates dropped by JetStream)."""

from __future__ import annotations

from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events import subjects
from swe_fleet.events.payloads import WorkspaceReviewCompleted


class JetStreamReviews:
    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def publish(self, review: WorkspaceReviewCompleted, *, event_id: str, causation_id: str) -> None:
        await self._publisher.publish(
            subjects.WORKSPACE_REVIEW_COMPLETED, review, event_id=event_id, causation_id=causation_id
        )
