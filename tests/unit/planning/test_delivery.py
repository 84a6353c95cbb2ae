"""The lifecycle driven by results: execution's events move a story by themselves, with the evidence."""

from __future__ import annotations

import pytest

from swe_fleet.events import subjects
from swe_fleet.events.payloads import (
    CommitRecord,
    DeliberationFailed,
    ReviewVerdict,
    Role,
    StoryState,
    SuiteResult,
    TaskDerivationFailed,
    TaskDispatched,
    TasksDerived,
    TaskSpec,
    WorkspaceReviewCompleted,
    WorkspaceTaskCompleted,
    WorkspaceTaskFailed,
    WorkspaceTaskStarted,
)
from swe_fleet.planning.app import commands as c
from swe_fleet.planning.app import delivery as d
from swe_fleet.planning.app import use_cases as uc
from swe_fleet.planning.domain.delivery import REVIEW_ROUNDS, SYSTEM_ACTOR, StoryDelivery, TaskStatus
from tests.unit.planning.fakes import FakeUnitOfWork

S = StoryState
BRANCH = "fleet/US-1"


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


def planned_story(uow: FakeUnitOfWork) -> str:
    story = uc.create_story(c.CreateStory(title="Fix add", owner="po", created_by="po", story_id="US-1"), uow)
    for state in (S.PO_REVIEW, S.READY_FOR_PLANNING, S.PLANNED):
        uc.transition_story(c.TransitionStory(story.id, state, by="po"), uow)
    return story.id


def derived(*task_ids: str) -> TasksDerived:
    return TasksDerived(
        story_id="US-1",
        plan_id="PL-1",
        attempts=1,
        tasks=[TaskSpec(task_id=t, title=f"do {t}", role=Role.DEV, estimate_hours=1) for t in task_ids],
    )


def dispatched(task_id: str) -> TaskDispatched:
    return TaskDispatched(task_id=task_id, story_id="US-1", role=Role.DEV, agent_id="agent-1")


def completed(
    task_id: str, sha: str, *, ok: bool = True, failing: tuple[str, ...] = ()
) -> WorkspaceTaskCompleted:
    return WorkspaceTaskCompleted(
        task_id=task_id,
        story_id="US-1",
        role=Role.DEV,
        agent_id="agent-1",
        branch=BRANCH,
        commits=[CommitRecord(sha=sha, message=f"{task_id}: change")],
        tests_after=SuiteResult(ok=ok, passed=5, failed=len(failing), failing=list(failing)),
    )


def failed(task_id: str, reason: str) -> WorkspaceTaskFailed:
    return WorkspaceTaskFailed(
        task_id=task_id, story_id="US-1", role=Role.DEV, agent_id="agent-1", branch=BRANCH, reason=reason
    )


def state(uow: FakeUnitOfWork) -> StoryState:
    story = uow.stories.get("US-1")
    assert story is not None
    return story.state


def system_transitions(uow: FakeUnitOfWork) -> list[tuple[str, str, str | None]]:
    return [
        (r.to_state.value, r.by, r.reason) for r in uow.stories.transitions("US-1") if r.by == SYSTEM_ACTOR
    ]


def test_execution_start_moves_a_planned_story_into_progress_once(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1", "T2"), "ev-derived", uow)
    assert state(uow) is S.PLANNED  # derivation alone is not execution
    entered = d.record_execution_started(dispatched("T1"), "ev-dispatched-1", uow)
    assert entered == [S.READY_FOR_EXECUTION, S.IN_PROGRESS] and state(uow) is S.IN_PROGRESS
    started = WorkspaceTaskStarted(task_id="T2", story_id="US-1", role=Role.DEV, agent_id="a", branch=BRANCH)
    assert d.record_execution_started(started, "ev-started-2", uow) == []
    moved = [e for e in uow.published if e.event_type == subjects.STORY_TRANSITIONED]
    assert [(e.payload.to_state, e.payload.transitioned_by) for e in moved][-2:] == [
        (S.READY_FOR_EXECUTION, SYSTEM_ACTOR),
        (S.IN_PROGRESS, SYSTEM_ACTOR),
    ]
    assert moved[-1].causation_id == "ev-dispatched-1"


def review(
    task_id: str, head: str, verdict: ReviewVerdict, summary: str = "looks right"
) -> WorkspaceReviewCompleted:
    return WorkspaceReviewCompleted(
        review_id=f"RV-{task_id}", task_id=task_id, story_id="US-1", reviewer="qa", verdict=verdict,
        summary=summary, head=head,
    )  # fmt: skip


def test_done_tested_and_reviewed_work_reaches_ready_to_review_with_evidence(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1", "T2"), "e1", uow)
    d.record_execution_started(dispatched("T1"), "e2", uow)
    assert d.record_task_completed(completed("T1", "aaaa1111"), "e3", uow) == []  # T2 still to do
    assert d.record_review(review("T1", "aaaa1111", ReviewVerdict.APPROVE), "e4", uow) == []
    assert state(uow) is S.IN_PROGRESS
    assert d.record_task_completed(completed("T2", "bbbb2222bbbb"), "e5", uow) == [S.CODE_REVIEW]
    waiting = d.story_delivery(uow, "US-1")
    assert (waiting.blocked_reason, waiting.waiting_for) == (None, "the QA review of task(s) T2")
    entered = d.record_review(review("T2", "bbbb2222bbbb", ReviewVerdict.APPROVE, "adds as asked"), "e6", uow)
    assert entered == [S.TESTING, S.READY_TO_REVIEW]
    reasons = system_transitions(uow)
    assert [r[0] for r in reasons] == [
        "READY_FOR_EXECUTION",
        "IN_PROGRESS",
        "CODE_REVIEW",
        "TESTING",
        "READY_TO_REVIEW",
    ]
    assert "all 2 task(s) done on fleet/US-1 with 2 commit(s)" in (reasons[2][2] or "")
    assert reasons[3][2] == "QA review: task T1 approved: looks right; task T2 approved: adds as asked"
    assert reasons[4][2] == "the suite passed at bbbb2222bbbb after task T2 (5 passed)"


def test_requested_changes_send_the_story_back_a_bounded_number_of_times(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1"), "e1", uow)
    d.record_execution_started(dispatched("T1"), "e2", uow)
    heads = ["aaaa0001", "aaaa0002", "aaaa0003"]
    for attempt, head in enumerate(heads, start=1):
        assert d.record_task_completed(completed("T1", head), f"done-{attempt}", uow) == [S.CODE_REVIEW]
        verdict = review("T1", head, ReviewVerdict.REQUEST_CHANGES, f"handle floats ({attempt})")
        entered = d.record_review(verdict, f"review-{attempt}", uow)
        if attempt <= REVIEW_ROUNDS:
            assert entered == [S.IN_PROGRESS] and state(uow) is S.IN_PROGRESS
            assert system_transitions(uow)[-1][2] == (
                f"the QA review requested changes to task T1 ({attempt}/{REVIEW_ROUNDS}): "
                f"handle floats ({attempt})"
            )
        else:  # beyond the bound: the story waits in CODE_REVIEW for a person, the reason visible
            assert entered == [] and state(uow) is S.CODE_REVIEW
    assert d.story_delivery(uow, "US-1").blocked_reason == (
        "the QA review requested changes to task T1 3 times (bound 2): handle floats (3)"
    )


def test_a_review_of_an_older_change_is_ignored(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1"), "e1", uow)
    d.record_execution_started(dispatched("T1"), "e2", uow)
    d.record_task_completed(completed("T1", "aaaa0001"), "e3", uow)
    d.record_task_completed(completed("T1", "aaaa0002"), "e4", uow)
    assert d.record_review(review("T1", "aaaa0001", ReviewVerdict.APPROVE), "e5", uow) == []
    assert state(uow) is S.CODE_REVIEW
    assert d.record_review(review("T1", "aaaa0002", ReviewVerdict.APPROVE), "e6", uow) == [
        S.TESTING,
        S.READY_TO_REVIEW,
    ]


def test_a_redelivered_event_changes_nothing(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1"), "e1", uow)
    d.record_execution_started(dispatched("T1"), "e2", uow)
    d.record_task_completed(completed("T1", "aaaa1111"), "e3", uow)
    before = (len(uow.published), uow.deliveries.get("US-1"))
    for event, event_id in ((derived("T1"), "e1"), (completed("T1", "aaaa1111"), "e3")):
        record = d.record_tasks_derived if isinstance(event, TasksDerived) else d.record_task_completed
        assert record(event, event_id, uow) == []
    assert (len(uow.published), uow.deliveries.get("US-1")) == before


def test_a_failed_task_holds_the_story_with_its_reason(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1", "T2"), "e1", uow)
    d.record_execution_started(dispatched("T1"), "e2", uow)
    d.record_task_completed(completed("T1", "aaaa1111"), "e3", uow)
    assert d.record_task_failed(failed("T2", "tests still fail: test_add"), "e4", uow) == []
    assert state(uow) is S.IN_PROGRESS
    delivery = d.story_delivery(uow, "US-1")
    assert delivery.tasks["T2"].status is TaskStatus.FAILED
    assert delivery.blocked_reason == "task T2 failed (1x): tests still fail: test_add"


def test_a_failing_suite_on_the_branch_holds_the_story(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1"), "e1", uow)
    d.record_execution_started(dispatched("T1"), "e2", uow)
    assert (
        d.record_task_completed(completed("T1", "aaaa1111", ok=False, failing=("test_a",)), "e3", uow) == []
    )
    assert state(uow) is S.IN_PROGRESS
    assert d.story_delivery(uow, "US-1").blocked_reason == (
        "the suite fails at aaaa1111 after task T1: 1 failing (test_a)"
    )


def test_results_for_a_story_planning_does_not_know_are_ignored(uow: FakeUnitOfWork) -> None:
    assert d.record_task_completed(completed("T1", "aaaa1111"), "e1", uow) == []
    assert uow.deliveries.get("US-1") is None and uow.published == []


def test_a_story_moved_by_hand_is_not_pulled_back_by_old_results(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    uc.transition_story(c.TransitionStory("US-1", S.READY_FOR_EXECUTION, by="po"), uow)
    uc.transition_story(c.TransitionStory("US-1", S.CARRY_OVER, by="po"), uow)
    assert d.record_execution_started(dispatched("T1"), "e1", uow) == []
    assert state(uow) is S.CARRY_OVER


def test_the_delivery_document_round_trips() -> None:
    delivery = StoryDelivery("US-1")
    delivery.tasks_derived("PL-1", [("T1", "one"), ("T2", "two")])
    delivery.task_completed("T1", branch=BRANCH, commits=["abc1"], suite=None)
    delivery.task_failed("T2", branch=BRANCH, reason="no")
    delivery.remember("e1")
    again = StoryDelivery.from_document("US-1", delivery.to_document(), delivery.version)
    assert again == delivery


def test_no_derived_tasks_or_no_council_winner_hold_the_story_with_the_reason(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    not_derived = TaskDerivationFailed(
        story_id="US-1", plan_id="PL-1", reason="no valid task list", attempts=3
    )
    assert d.record_derivation_failed(not_derived, "e1", uow) == []
    assert d.story_delivery(uow, "US-1").blocked_reason == (
        "no tasks could be derived from plan PL-1: no valid task list"
    )
    d.record_tasks_derived(derived("T1"), "e2", uow)  # a later derivation (re-planning) clears it
    assert d.story_delivery(uow, "US-1").blocked_reason is None
    no_winner = DeliberationFailed(
        deliberation_id="D-1",
        story_id="US-1",
        task_id="T1",
        role=Role.DEV,
        agents=["a"],
        reason="all agents failed",
    )
    assert d.record_deliberation_failed(no_winner, "e3", uow) == []
    delivery = d.story_delivery(uow, "US-1")
    assert (delivery.tasks["T1"].status, delivery.branch) == (TaskStatus.FAILED, None)
    assert delivery.blocked_reason == "task T1 failed (1x): its council found no winner: all agents failed"
    assert state(uow) is S.PLANNED
