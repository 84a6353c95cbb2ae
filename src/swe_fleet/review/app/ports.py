"""What the reviewer needs: the story's facts, a reviewing model, a way to publish the review."""

from __future__ import annotations

from typing import Protocol

from swe_fleet.events.payloads import WorkspaceReviewCompleted
from swe_fleet.review.domain.review import ReviewAnswer, StoryFacts


class ReviewUnavailable(Exception):
    """The model gave no usable review (after its attempts)."""


class StorySource(Protocol):
    async def story(self, story_id: str) -> StoryFacts: ...


class ReviewModel(Protocol):
    name: str

    async def review(self, system: str, user: str) -> ReviewAnswer:
        """The model's review; ReviewUnavailable when it gives none that validates."""
        ...


class ReviewPublisher(Protocol):
    async def publish(
        self, review: WorkspaceReviewCompleted, *, event_id: str, causation_id: str
    ) -> None: ...
