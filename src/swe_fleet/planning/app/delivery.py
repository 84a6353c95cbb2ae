"""Use cases driven by execution's results: record them, and move the story on the evidence.

Each handler is one transaction: it loads the story and its delivery, applies one event (skipping
an event it already applied), records the transitions the results earn as the system, with the
evidence as the reason, and commits them with their events (the outbox), with the reworks the
change asked for (`planning.task.rework_requested`, ADR 0703). A story planning does not know (a
probe, another deployment's) is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from swe_fleet.events import subjects
from swe_fleet.events.envelope import deterministic_event_id
from swe_fleet.events.payloads import (
    DeliberationFailed,
    ReworkSource,
    Role,
    StoryState,
    TaskDerivationFailed,
    TaskDispatched,
    TaskReworkRequested,
    TasksDerived,
    WorkspaceReviewCompleted,
    WorkspaceTaskCompleted,
    WorkspaceTaskFailed,
    WorkspaceTaskResult,
    WorkspaceTaskStarted,
)
from swe_fleet.planning.app import commands as c
from swe_fleet.planning.app.planning_app import PlanningApp
from swe_fleet.planning.app.ports import MergeResult, StoryBranches, UnitOfWork
from swe_fleet.planning.app.use_cases import _record, _story, _transition, now
from swe_fleet.planning.domain.delivery import (
    REVIEW_ROUNDS,
    SYSTEM_ACTOR,
    Dispatch,
    StoryDelivery,
    SuiteEvidence,
)
from swe_fleet.planning.domain.errors import ActionNotAllowed, NotFound
from swe_fleet.planning.domain.model import Story, required_text

log = logging.getLogger(__name__)


def _apply(
    uow: UnitOfWork,
    story_id: str,
    event_id: str,
    change: Callable[[StoryDelivery], None],
    *,
    execution_started: bool = False,
) -> list[StoryState]:
    """Load, apply `change(delivery)`, move the story as earned, save; returns the states entered."""
    with uow:
        story = uow.stories.get(story_id)
        if story is None:
            log.info("delivery: event %s for story %s, unknown here: ignored", event_id, story_id)
            return []
        delivery = uow.deliveries.get(story_id) or StoryDelivery(story_id)
        if delivery.seen(event_id):
            return []
        change(delivery)
        delivery.remember(event_id)
        entered = _move(uow, story, delivery, event_id, execution_started=execution_started)
        _request_reworks(uow, story, delivery, causation_id=event_id)
        uow.deliveries.save(delivery)
        uow.commit()
    return entered


def _move(
    uow: UnitOfWork, story: Story, delivery: StoryDelivery, event_id: str, *, execution_started: bool
) -> list[StoryState]:
    moves = delivery.moves(story.state, execution_started=execution_started)
    if not moves:
        return []
    read_version, at = story.version, now()
    for target, reason in moves:
        _transition(uow, story, target, by=SYSTEM_ACTOR, reason=reason, at=at, causation_id=event_id)
    uow.stories.update(story, read_version)
    return [target for target, _ in moves]


def _request_reworks(
    uow: UnitOfWork, story: Story, delivery: StoryDelivery, *, causation_id: str | None
) -> None:
    """Record the reworks the change decided; the id follows from (task, attempt): recorded once."""
    at = now()
    for rework in delivery.reworks:
        payload = TaskReworkRequested(
            story_id=story.id,
            task_id=rework.task_id,
            rework_task_id=rework.rework_task_id,
            attempt=rework.attempt,
            source=ReworkSource(rework.source),
            reason=rework.reason,
            role=Role(rework.dispatch.role),
            agent_id=rework.dispatch.agent_id,
            deliberation_id=rework.dispatch.deliberation_id,
            proposal_id=rework.dispatch.proposal_id,
        )
        _record(
            uow,
            subjects.TASK_REWORK_REQUESTED,
            payload,
            correlation_id=story.correlation_id,
            causation_id=causation_id,
            event_id=deterministic_event_id(f"rework:{story.id}:{rework.rework_task_id}", at),
        )
    delivery.reworks = []


def record_tasks_derived(event: TasksDerived, event_id: str, uow: UnitOfWork) -> list[StoryState]:
    tasks = [(task.task_id, task.title) for task in event.tasks]
    return _apply(uow, event.story_id, event_id, lambda d: d.tasks_derived(event.plan_id, tasks))


def record_derivation_failed(event: TaskDerivationFailed, event_id: str, uow: UnitOfWork) -> list[StoryState]:
    return _apply(uow, event.story_id, event_id, lambda d: d.derivation_failed(event.plan_id, event.reason))


def record_deliberation_failed(event: DeliberationFailed, event_id: str, uow: UnitOfWork) -> list[StoryState]:
    """No agent of the council produced a winner: the task will not be carried out."""
    reason = f"its council found no winner: {event.reason}"
    return _apply(
        uow, event.story_id, event_id, lambda d: d.task_failed(event.task_id, branch="", reason=reason)
    )


def record_review(
    event: WorkspaceReviewCompleted, event_id: str, uow: UnitOfWork, *, rounds: int = REVIEW_ROUNDS
) -> list[StoryState]:
    """`rounds`: how many times a task's change may be sent back to the workspace (FLEET_REVIEW_ROUNDS)."""

    def change(d: StoryDelivery) -> None:
        d.review_rounds = rounds
        d.review_completed(
            event.task_id,
            verdict=event.verdict.value,
            summary=event.summary,
            findings=list(event.findings),
            head=event.head,
        )

    return _apply(uow, event.story_id, event_id, change)


def record_execution_started(
    event: TaskDispatched | WorkspaceTaskStarted, event_id: str, uow: UnitOfWork
) -> list[StoryState]:
    def change(d: StoryDelivery) -> None:
        if isinstance(event, TaskDispatched):
            dispatch = Dispatch(event.role.value, event.agent_id, event.deliberation_id, event.proposal_id)
            d.task_dispatched(event.task_id, dispatch)
        else:
            d.task_running(event.task_id)

    return _apply(uow, event.story_id, event_id, change, execution_started=True)


def _suite(result: WorkspaceTaskResult) -> SuiteEvidence | None:
    tests = result.tests_after
    if tests is None:
        return None
    return SuiteEvidence(
        ok=tests.ok,
        passed=tests.passed,
        failed=tests.failed,
        failing=tuple(tests.failing),
        head=result.commits[-1].sha if result.commits else None,
        task_id=result.task_id,
    )


def record_task_completed(event: WorkspaceTaskCompleted, event_id: str, uow: UnitOfWork) -> list[StoryState]:
    commits = [commit.sha for commit in event.commits]
    return _apply(
        uow,
        event.story_id,
        event_id,
        lambda d: d.task_completed(event.task_id, branch=event.branch, commits=commits, suite=_suite(event)),
    )


def record_task_failed(event: WorkspaceTaskFailed, event_id: str, uow: UnitOfWork) -> list[StoryState]:
    return _apply(
        uow,
        event.story_id,
        event_id,
        lambda d: d.task_failed(event.task_id, branch=event.branch, reason=event.reason),
    )


def story_delivery(uow: UnitOfWork, story_id: str) -> StoryDelivery:
    """The delivery as stored (an empty one for a story with no execution yet)."""
    with uow:
        if uow.stories.get(story_id) is None:
            raise NotFound("story", story_id)
        return uow.deliveries.get(story_id) or StoryDelivery(story_id)


# ------------------------------------------------------------------ the PO's verdict on the delivered story


@dataclass(frozen=True)
class AcceptanceTarget:
    story_id: str
    repo: str
    base_branch: str
    branch: str


def acceptance_target(uow: UnitOfWork, story_id: str) -> AcceptanceTarget:
    """What accepting the story merges: its branch into its project's base branch."""
    with uow:
        story = _story(uow, story_id)
        if story.state is not StoryState.READY_TO_REVIEW:
            raise ActionNotAllowed(
                f"story {story_id} is {story.state.value}; the PO accepts a story only in READY_TO_REVIEW"
            )
        epic = uow.epics.get(story.epic_id) if story.epic_id else None
        project = uow.projects.get(epic.project_id) if epic else None
        if project is None or not project.repo:
            raise ActionNotAllowed(
                f"story {story_id} belongs to no project with a repository: nothing to merge"
            )
        delivery = uow.deliveries.get(story_id)
        branch = delivery.branch if delivery and delivery.branch else f"fleet/{story_id}"
        return AcceptanceTarget(story_id, project.repo, project.base_branch, branch)


def record_acceptance(cmd: c.RecordAcceptance, uow: UnitOfWork) -> Story:
    """READY_TO_REVIEW -> ACCEPTED, the merge commit in the reason; a retried request changes nothing."""
    with uow:
        story = _story(uow, cmd.story_id)
        delivery = uow.deliveries.get(story.id) or StoryDelivery(story.id)
        if story.state is StoryState.ACCEPTED and delivery.merge_commit == cmd.merge_commit:
            return story
        read_version = story.version
        reason = f"merged {cmd.branch} into {cmd.base_branch} as {cmd.merge_commit}"
        _transition(
            uow,
            story,
            StoryState.ACCEPTED,
            by=cmd.by,
            reason=f"{reason}: {cmd.note}" if cmd.note else reason,
            at=now(),
        )
        delivery.accepted(cmd.merge_commit, cmd.base_branch)
        uow.deliveries.save(delivery)
        uow.stories.update(story, read_version)
        uow.commit()
    return story


async def accept_story(
    app: PlanningApp, branches: StoryBranches, cmd: c.AcceptStory
) -> tuple[Story, MergeResult]:
    """The PO accepts: the story branch is merged into the base branch (a conflict is refused, nothing
    forced), then the story is ACCEPTED with the merge commit recorded."""
    target = await app.query(acceptance_target, cmd.story_id)
    merged = await branches.merge(
        target.repo,
        target.base_branch,
        target.branch,
        f"Merge {target.branch}: story {target.story_id} accepted by {cmd.by}",
    )
    record = c.RecordAcceptance(
        cmd.story_id, cmd.by, cmd.note, merged.merge_commit, target.base_branch, target.branch
    )
    return await app.execute(record_acceptance, record), merged


# States from which the PO (or a reviewer) may send delivered work back for another round.
SEND_BACK_FROM = frozenset({StoryState.CODE_REVIEW, StoryState.TESTING, StoryState.READY_TO_REVIEW})


def send_back(cmd: c.SendBack, uow: UnitOfWork) -> Story:
    """-> IN_PROGRESS with the reason (which the agents of the next round see in their context)."""
    reason = required_text("reason", cmd.reason)
    with uow:
        story = _story(uow, cmd.story_id)
        if story.state not in SEND_BACK_FROM:
            raise ActionNotAllowed(
                f"story {story.id} is {story.state.value}; work is sent back only from "
                "CODE_REVIEW, TESTING or READY_TO_REVIEW"
            )
        delivery = uow.deliveries.get(story.id) or StoryDelivery(story.id)
        read_version = story.version
        moved = _transition(
            uow, story, StoryState.IN_PROGRESS, by=cmd.by, reason=f"sent back: {reason}", at=now()
        )
        delivery.sent_back(reason)
        _request_reworks(uow, story, delivery, causation_id=moved.event_id)
        uow.deliveries.save(delivery)
        uow.stories.update(story, read_version)
        uow.commit()
    return story
