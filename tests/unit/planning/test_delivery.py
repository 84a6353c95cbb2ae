"""The lifecycle driven by results: execution's events move a story by themselves, with the evidence."""

from __future__ import annotations

import pytest

from swe_fleet.events import subjects
from swe_fleet.events.payloads import (
    CommitRecord,
    DeliberationFailed,
    ReviewVerdict,
    ReworkSource,
    Role,
    StoryState,
    SuiteResult,
    TaskDerivationFailed,
    TaskDispatched,
    TaskReworkRequested,
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
from swe_fleet.planning.domain.delivery import (
    REVIEW_ROUNDS,
    SYSTEM_ACTOR,
    Dispatch,
    StoryDelivery,
    TaskStatus,
)
from swe_fleet.planning.domain.delivery_document import delivery_of, document_of
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


def reworks(uow: FakeUnitOfWork) -> list[TaskReworkRequested]:
    found = [e.payload for e in uow.published if e.event_type == subjects.TASK_REWORK_REQUESTED]
    assert all(isinstance(payload, TaskReworkRequested) for payload in found)
    return found  # type: ignore[return-value]


def test_requested_changes_send_the_task_back_to_the_workspace_a_bounded_number_of_times(
    uow: FakeUnitOfWork,
) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1"), "e1", uow)
    first = TaskDispatched(
        task_id="T1", story_id="US-1", role=Role.DEV, agent_id="dev-7", deliberation_id="D1", proposal_id="P1"
    )
    d.record_execution_started(first, "e2", uow)
    attempts = ["T1", "T1~2", "T1~3"]
    for n, attempt in enumerate(attempts, start=1):
        assert d.record_task_completed(completed(attempt, f"aaaa000{n}"), f"done-{n}", uow) == [S.CODE_REVIEW]
        verdict = review(attempt, f"aaaa000{n}", ReviewVerdict.REQUEST_CHANGES, f"handle floats ({n})")
        verdict.findings.append(f"add(0.5, 1) fails ({n})")
        entered = d.record_review(verdict, f"review-{n}", uow)
        if n <= REVIEW_ROUNDS:
            assert entered == [S.IN_PROGRESS] and state(uow) is S.IN_PROGRESS
            assert system_transitions(uow)[-1][2] == (
                f"the QA review requested changes to task T1 ({n}/{REVIEW_ROUNDS}): handle floats ({n})"
            )
            # The next attempt, dispatched as the first was, with the review (and its findings) as reason.
            asked = reworks(uow)[-1]
            assert (asked.task_id, asked.rework_task_id, asked.attempt, asked.source) == (
                "T1",
                attempts[n],
                n + 1,
                ReworkSource.REVIEW,
            )
            assert (asked.role, asked.agent_id, asked.deliberation_id, asked.proposal_id) == (
                Role.DEV,
                "dev-7",
                "D1",
                "P1",
            )
            assert asked.reason == (
                f"the QA review requested changes: handle floats ({n}) (add(0.5, 1) fails ({n}))"
            )
            d.record_execution_started(dispatched(attempts[n]), f"redispatched-{n}", uow)
        else:  # beyond the bound: the task fails, nothing more is dispatched, the story waits in CODE_REVIEW
            assert entered == [] and state(uow) is S.CODE_REVIEW
    assert len(reworks(uow)) == REVIEW_ROUNDS
    delivery = d.story_delivery(uow, "US-1")
    assert delivery.tasks["T1"].status is TaskStatus.FAILED
    assert delivery.blocked_reason == (
        "the QA review requested changes to task T1 3 times (bound 2): handle floats (3)"
    )
    assert delivery.tasks["T1"].commits == ["aaaa0001", "aaaa0002", "aaaa0003"]


def test_the_bound_of_review_rounds_is_configurable(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1"), "e1", uow)
    d.record_execution_started(dispatched("T1"), "e2", uow)
    d.record_task_completed(completed("T1", "aaaa0001"), "e3", uow)
    verdict = review("T1", "aaaa0001", ReviewVerdict.REQUEST_CHANGES, "no")
    assert d.record_review(verdict, "e4", uow, rounds=0) == []
    assert reworks(uow) == [] and state(uow) is S.CODE_REVIEW
    assert d.story_delivery(uow, "US-1").tasks["T1"].status is TaskStatus.FAILED


def test_results_of_an_attempt_no_longer_in_flight_are_ignored(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1"), "e1", uow)
    d.record_execution_started(dispatched("T1"), "e2", uow)
    d.record_task_completed(completed("T1", "aaaa0001"), "e3", uow)
    d.record_review(review("T1", "aaaa0001", ReviewVerdict.REQUEST_CHANGES, "again"), "e4", uow)
    # A late failure and a late approval of the first attempt: the rework T1~2 decides now.
    assert d.record_task_failed(failed("T1", "timed out"), "e5", uow) == []
    assert d.record_review(review("T1", "aaaa0001", ReviewVerdict.APPROVE), "e6", uow) == []
    task = d.story_delivery(uow, "US-1").tasks["T1"]
    assert (task.status, task.failures, task.current_id) == (TaskStatus.CHANGES_REQUESTED, 0, "T1~2")
    d.record_task_completed(completed("T1~2", "bbbb0002"), "e7", uow)
    assert d.record_review(review("T1~2", "bbbb0002", ReviewVerdict.APPROVE), "e8", uow) == [
        S.TESTING,
        S.READY_TO_REVIEW,
    ]


def test_a_redelivered_request_for_changes_asks_for_the_task_once(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1"), "e1", uow)
    d.record_execution_started(dispatched("T1"), "e2", uow)
    d.record_task_completed(completed("T1", "aaaa0001"), "e3", uow)
    verdict = review("T1", "aaaa0001", ReviewVerdict.REQUEST_CHANGES, "again")
    d.record_review(verdict, "e4", uow)
    d.record_review(verdict, "e4", uow)
    assert [r.rework_task_id for r in reworks(uow)] == ["T1~2"]


def test_a_story_sent_back_asks_for_every_task_again_with_the_pos_reason(uow: FakeUnitOfWork) -> None:
    planned_story(uow)
    d.record_tasks_derived(derived("T1", "T2"), "e1", uow)
    for n, task_id in enumerate(("T1", "T2"), start=1):
        d.record_execution_started(dispatched(task_id), f"d-{n}", uow)
        d.record_task_completed(completed(task_id, f"aaaa000{n}"), f"c-{n}", uow)
        d.record_review(review(task_id, f"aaaa000{n}", ReviewVerdict.APPROVE), f"r-{n}", uow)
    assert state(uow) is S.READY_TO_REVIEW
    d.send_back(c.SendBack("US-1", by="po-ana", reason="strings too"), uow)
    assert state(uow) is S.IN_PROGRESS
    asked = reworks(uow)
    assert [(r.rework_task_id, r.source, r.reason) for r in asked] == [
        ("T1~2", ReworkSource.SEND_BACK, "sent back: strings too"),
        ("T2~2", ReworkSource.SEND_BACK, "sent back: strings too"),
    ]
    moved = [e for e in uow.published if e.event_type == subjects.STORY_TRANSITIONED][-1]
    assert all(e.causation_id == moved.event_id for e in uow.published[-2:])
    # The new round's results move the story on again by itself.
    for n, task_id in enumerate(("T1~2", "T2~2"), start=1):
        d.record_execution_started(dispatched(task_id), f"d2-{n}", uow)
        d.record_task_completed(completed(task_id, f"bbbb000{n}"), f"c2-{n}", uow)
    entered = d.record_review(review("T1~2", "bbbb0001", ReviewVerdict.APPROVE), "r2-1", uow)
    assert entered == [] and state(uow) is S.CODE_REVIEW
    entered = d.record_review(review("T2~2", "bbbb0002", ReviewVerdict.APPROVE), "r2-2", uow)
    assert entered == [S.TESTING, S.READY_TO_REVIEW]


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
    delivery.task_dispatched("T1", Dispatch("DEV", "dev-1", "D1", "P1"))
    delivery.review_completed("T1", verdict="request_changes", summary="s", findings=["f"], head="abc1")
    assert [r.rework_task_id for r in delivery.reworks] == ["T1~2"]
    delivery.reworks = []
    delivery.remember("e1")
    again = delivery_of("US-1", document_of(delivery), delivery.version)
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
