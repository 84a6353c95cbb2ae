"""The projection use case over an in-memory ledger store: once per event, announced after the commit."""

from __future__ import annotations

from datetime import datetime

import pytest

from swe_fleet.backbone.consumer import Delivery
from swe_fleet.context.app.projector import AnnouncementFailed, Projector
from swe_fleet.events import subjects
from swe_fleet.events.payloads import ContextUpdated, Payload, PlanApproved, StoryCreated, StoryState
from tests.unit.context.factories import envelope
from tests.unit.context.fakes import LedgerStore


class Announcements:
    def __init__(self) -> None:
        self.sent: list[tuple[ContextUpdated, str]] = []
        self.failing = False

    async def __call__(self, update: ContextUpdated, key: str, at: datetime) -> None:
        if self.failing:
            raise ConnectionError("NATS down")
        self.sent.append((update, key))


def delivered(subject: str, payload: Payload, event_id: str, *, times: int = 1) -> Delivery[Payload]:
    sent = envelope(subject, payload, event_id=event_id)
    return Delivery(sent, payload, subject, "PLANNING_EVENTS", 1, times, msg=None)  # type: ignore[arg-type]


STORY = StoryCreated(story_id="US-1", title="Log in", owner="po", created_by="po", state=StoryState.DRAFT)
APPROVAL = PlanApproved(story_id="US-1", plan_id="PL-1", approved_by="po")


@pytest.fixture
def parts() -> tuple[Projector, LedgerStore, Announcements]:
    store, announce = LedgerStore(), Announcements()
    return Projector(store, announce), store, announce  # type: ignore[arg-type]


async def test_a_batch_is_committed_once_and_announced_with_its_stories(parts) -> None:
    projector, store, announce = parts
    await projector.handle(
        [
            delivered(subjects.STORY_CREATED, STORY, "01J00000000000000000000001"),
            delivered(subjects.PLAN_APPROVED, APPROVAL, "01J00000000000000000000002"),
        ]
    )
    assert store.ledger == ["01J00000000000000000000001", "01J00000000000000000000002"]
    ((update, _),) = announce.sent
    assert (update.story_ids, update.version, update.events_applied) == (["US-1"], 1, 2)


async def test_a_duplicate_changes_nothing_and_a_redelivery_is_announced_again(parts) -> None:
    projector, store, announce = parts
    first = delivered(subjects.STORY_CREATED, STORY, "01J00000000000000000000001")
    await projector.handle([first])
    writes = len(store.writes)
    await projector.handle([first])  # a duplicate publish: same event id, first delivery
    assert (len(store.writes), store.version_now, len(announce.sent)) == (writes, 1, 1)
    # Redelivered after a crash: its first announcement may be what was lost, so it is sent again,
    # under the same key (JetStream keeps one), and the version is not bumped.
    await projector.handle([delivered(subjects.STORY_CREATED, STORY, "01J00000000000000000000001", times=2)])
    assert store.version_now == 1 and len(announce.sent) == 2
    assert announce.sent[0][1] == announce.sent[1][1]
    assert announce.sent[1][0].events_applied == 0


async def test_a_failed_announcement_is_retried_and_owed_to_the_next_batch(parts) -> None:
    projector, store, announce = parts
    announce.failing = True
    with pytest.raises(AnnouncementFailed):
        await projector.handle([delivered(subjects.STORY_CREATED, STORY, "01J00000000000000000000001")])
    assert store.ledger == ["01J00000000000000000000001"], "the graph committed before announcing"
    announce.failing = False
    # Another event that changes nothing new (already applied) still announces what was owed.
    await projector.handle([delivered(subjects.STORY_CREATED, STORY, "01J00000000000000000000001")])
    ((update, _),) = announce.sent
    assert update.story_ids == ["US-1"] and update.version == 1


async def test_a_failed_commit_fails_the_handler_and_announces_nothing(parts) -> None:
    projector, store, announce = parts
    store.fail_next = 1
    with pytest.raises(RuntimeError, match="commit failed"):
        await projector.handle([delivered(subjects.STORY_CREATED, STORY, "01J00000000000000000000001")])
    assert store.ledger == [] and announce.sent == []
