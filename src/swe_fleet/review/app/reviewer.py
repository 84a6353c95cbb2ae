"""The reviewer: each committed change gets one review event (approve or request changes).

Redelivery publishes the same event id (derived from the task and its head commit), so JetStream
drops the duplicate. A model that gives no valid review leaves the change judged on the objective
checks alone, and the review says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from swe_fleet.backbone.consumer import Delivery
from swe_fleet.events.envelope import deterministic_event_id
from swe_fleet.events.payloads import ReviewVerdict, WorkspaceReviewCompleted, WorkspaceTaskCompleted
from swe_fleet.review.app.ports import ReviewModel, ReviewPublisher, ReviewUnavailable, StorySource
from swe_fleet.review.domain.review import (
    REVIEWER,
    Review,
    failed_checks_review,
    objective_checks,
    review_prompt,
)

log = logging.getLogger(__name__)


class Reviewer:
    def __init__(self, stories: StorySource, model: ReviewModel, publisher: ReviewPublisher) -> None:
        self.stories, self.model, self.publisher = stories, model, publisher

    async def handle(self, deliveries: Sequence[Delivery[WorkspaceTaskCompleted]]) -> None:
        for delivery in deliveries:
            await self.review(delivery.payload, delivery.envelope.event_id, delivery.envelope.occurred_at)

    async def judge(self, result: WorkspaceTaskCompleted) -> Review:
        checks = objective_checks(result)
        decided = failed_checks_review(checks)
        if decided is not None:
            return decided
        story = await self.stories.story(result.story_id)
        system, user = review_prompt(result, story)
        try:
            answer = await self.model.review(system, user)
        except ReviewUnavailable as error:
            log.warning("review of %s: %s; judged on the objective checks", result.task_id, error)
            return Review(
                ReviewVerdict.APPROVE,
                f"no valid review from {self.model.name} ({error}): approved on the objective checks alone",
                [],
                checks,
            )
        return Review(answer.verdict, answer.summary, list(answer.findings), checks)

    async def review(self, result: WorkspaceTaskCompleted, causation_id: str, at: datetime) -> None:
        head = result.commits[-1].sha if result.commits else None
        key = f"review|{result.task_id}|{head}"
        review = await self.judge(result)
        payload = WorkspaceReviewCompleted(
            review_id=f"RV-{result.task_id}-{(head or 'none')[:12]}",
            task_id=result.task_id,
            story_id=result.story_id,
            reviewer=f"{REVIEWER}:{self.model.name}",
            verdict=review.verdict,
            summary=review.summary,
            findings=review.findings,
            head=head,
            checks=review.checks,
        )
        # the same task, head and result event give the same id: a redelivered result is not reviewed twice
        await self.publisher.publish(
            payload, event_id=deterministic_event_id(key, at), causation_id=causation_id
        )
