"""The use cases that change planning data, each one transaction with the events it records.

Every function takes a command and a unit of work, applies the domain rules, and records the
events to publish in the same transaction (they reach the outbox, never NATS directly). A story's
events all carry the story's correlation id (its creation event's id) so its flow can be followed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from ulid import ULID

from swe_fleet.events import subjects
from swe_fleet.events.envelope import Envelope, new_event_id
from swe_fleet.events.payloads import Payload, StoryState
from swe_fleet.planning.app import commands as c
from swe_fleet.planning.app.ports import UnitOfWork
from swe_fleet.planning.domain.errors import Conflict, InvalidInput, NotFound
from swe_fleet.planning.domain.model import (
    Decision,
    Epic,
    Plan,
    PlanStatus,
    Project,
    Story,
    clean_items,
    repository_fields,
    required_text,
)

PRODUCER = "planning"

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{ULID()}"


def chosen_id(field: str, value: str | None, prefix: str) -> str:
    """The caller's id when given (checked: it ends up in URLs and graph ids), else a new one."""
    if value is None:
        return new_id(prefix)
    if not _ID_PATTERN.match(value):
        raise InvalidInput(field, "ids are 1-128 characters: letters, digits and . _ : - (not first)")
    return value


def _record(
    uow: UnitOfWork,
    subject: str,
    payload: Payload,
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: str | None = None,
) -> Envelope:
    envelope = Envelope.new(
        subject,
        payload,
        producer=PRODUCER,
        correlation_id=correlation_id,
        causation_id=causation_id,
        event_id=event_id,
    )
    uow.record(envelope)
    return envelope


def _story(uow: UnitOfWork, story_id: str) -> Story:
    story = uow.stories.get(story_id)
    if story is None:
        raise NotFound("story", story_id)
    return story


def _plan(uow: UnitOfWork, plan_id: str) -> Plan:
    plan = uow.plans.get(plan_id)
    if plan is None:
        raise NotFound("plan", plan_id)
    return plan


def _decision(uow: UnitOfWork, decision_id: str) -> Decision:
    decision = uow.decisions.get(decision_id)
    if decision is None:
        raise NotFound("decision", decision_id)
    return decision


# ------------------------------------------------------------------ projects and epics


def create_project(cmd: c.CreateProject, uow: UnitOfWork) -> Project:
    with uow:
        project_id = chosen_id("project_id", cmd.project_id, "PRJ")
        if uow.projects.get(project_id) is not None:
            raise Conflict(f"project {project_id!r} already exists")
        repo, base_branch, test_command = repository_fields(cmd.repo, cmd.base_branch, cmd.test_command)
        project = Project(
            id=project_id,
            name=required_text("name", cmd.name),
            description=cmd.description,
            created_by=required_text("created_by", cmd.created_by),
            created_at=now(),
            repo=repo,
            base_branch=base_branch,
            test_command=test_command,
        )
        uow.projects.add(project)
        _record(uow, subjects.PROJECT_CREATED, project.created_event())
        uow.commit()
    return project


def create_epic(cmd: c.CreateEpic, uow: UnitOfWork) -> Epic:
    with uow:
        if uow.projects.get(cmd.project_id) is None:
            raise NotFound("project", cmd.project_id)
        epic_id = chosen_id("epic_id", cmd.epic_id, "EPIC")
        if uow.epics.get(epic_id) is not None:
            raise Conflict(f"epic {epic_id!r} already exists")
        epic = Epic(
            id=epic_id,
            project_id=cmd.project_id,
            title=required_text("title", cmd.title),
            description=cmd.description,
            created_by=required_text("created_by", cmd.created_by),
            created_at=now(),
        )
        uow.epics.add(epic)
        _record(uow, subjects.EPIC_CREATED, epic.created_event())
        uow.commit()
    return epic


# ------------------------------------------------------------------ stories


def create_story(cmd: c.CreateStory, uow: UnitOfWork) -> Story:
    with uow:
        if cmd.epic_id is not None and uow.epics.get(cmd.epic_id) is None:
            raise NotFound("epic", cmd.epic_id)
        story_id = chosen_id("story_id", cmd.story_id, "US")
        if uow.stories.get(story_id) is not None:
            raise Conflict(f"story {story_id!r} already exists")
        at = now()
        event_id = new_event_id()
        story = Story(
            id=story_id,
            epic_id=cmd.epic_id,
            title=required_text("title", cmd.title),
            brief=cmd.brief,
            acceptance_criteria=clean_items("acceptance_criteria", list(cmd.acceptance_criteria)),
            owner=required_text("owner", cmd.owner),
            created_by=required_text("created_by", cmd.created_by),
            created_at=at,
            updated_at=at,
            correlation_id=event_id,
        )
        uow.stories.add(story)
        _record(uow, subjects.STORY_CREATED, story.created_event(), event_id=event_id)
        uow.commit()
    return story


def _check_version(story: Story, expected_version: int | None) -> None:
    if expected_version is not None and story.version != expected_version:
        raise Conflict(
            f"story {story.id} is at version {story.version}, not {expected_version}: "
            "it changed since you read it; read it again and retry"
        )


def _transition(
    uow: UnitOfWork,
    story: Story,
    to_state: StoryState,
    *,
    by: str,
    reason: str | None,
    at: datetime,
    causation_id: str | None = None,
) -> Envelope:
    """Move `story` (already read in this unit of work) and record the transition and its event."""
    payload, record = story.transition(to_state, by=by, reason=reason, at=at)
    envelope = _record(
        uow,
        subjects.STORY_TRANSITIONED,
        payload,
        correlation_id=story.correlation_id,
        causation_id=causation_id,
    )
    uow.stories.add_transition(replace(record, event_id=envelope.event_id))
    return envelope


def transition_story(cmd: c.TransitionStory, uow: UnitOfWork) -> Story:
    with uow:
        story = _story(uow, cmd.story_id)
        _check_version(story, cmd.expected_version)
        read_version = story.version
        _transition(uow, story, cmd.to_state, by=cmd.by, reason=cmd.reason, at=now())
        uow.stories.update(story, read_version)
        uow.commit()
    return story


# ------------------------------------------------------------------ plans


def create_plan(cmd: c.CreatePlan, uow: UnitOfWork) -> Plan:
    with uow:
        story = _story(uow, cmd.story_id)
        story.ensure_plannable()
        plan_id = chosen_id("plan_id", cmd.plan_id, "PLAN")
        if uow.plans.get(plan_id) is not None:
            raise Conflict(f"plan {plan_id!r} already exists")
        at = now()
        plan = Plan(
            id=plan_id,
            story_id=story.id,
            description=cmd.description,
            acceptance_criteria=list(cmd.acceptance_criteria),
            technical_notes=cmd.technical_notes,
            roles=list(cmd.roles),
            created_by=required_text("created_by", cmd.created_by),
            created_at=at,
        )
        read_version = story.version
        story.touch(at)  # a plan is part of its story: changes to one story serialize on its row
        uow.plans.add(plan)
        uow.stories.update(story, read_version)
        _record(uow, subjects.PLAN_CREATED, plan.created_event(), correlation_id=story.correlation_id)
        uow.commit()
    return plan


def approve_plan(cmd: c.ApprovePlan, uow: UnitOfWork) -> Plan:
    """Approve a proposed plan. In READY_FOR_PLANNING the story moves to PLANNED with it; in
    PLANNED (re-planning) the plan replaces the story's previously approved one."""
    with uow:
        plan = _plan(uow, cmd.plan_id)
        story = _story(uow, plan.story_id)
        story.ensure_plannable()
        at = now()
        plan_read_version, story_read_version = plan.version, story.version
        approval = _record(
            uow,
            subjects.PLAN_APPROVED,
            plan.approve(by=cmd.by, notes=cmd.notes, at=at),
            correlation_id=story.correlation_id,
        )
        for earlier in uow.plans.for_story(story.id):
            if earlier.id != plan.id and earlier.status is PlanStatus.APPROVED:
                earlier_read_version = earlier.version
                earlier.supersede()
                uow.plans.update(earlier, earlier_read_version)
        uow.plans.update(plan, plan_read_version)
        if story.state is StoryState.READY_FOR_PLANNING:
            _transition(
                uow,
                story,
                StoryState.PLANNED,
                by=cmd.by,
                reason=f"plan {plan.id} approved",
                at=at,
                causation_id=approval.event_id,
            )
        else:
            story.touch(at)
        uow.stories.update(story, story_read_version)
        uow.commit()
    return plan


def reject_plan(cmd: c.RejectPlan, uow: UnitOfWork) -> Plan:
    with uow:
        plan = _plan(uow, cmd.plan_id)
        story = _story(uow, plan.story_id)
        at = now()
        plan_read_version, story_read_version = plan.version, story.version
        payload = plan.reject(by=cmd.by, reason=cmd.reason, at=at)
        story.touch(at)
        uow.plans.update(plan, plan_read_version)
        uow.stories.update(story, story_read_version)
        _record(uow, subjects.PLAN_REJECTED, payload, correlation_id=story.correlation_id)
        uow.commit()
    return plan


# ------------------------------------------------------------------ decisions


def propose_decision(cmd: c.ProposeDecision, uow: UnitOfWork) -> Decision:
    """Record a decision awaiting the PO's verdict (no event: only verdicts are published)."""
    with uow:
        _story(uow, cmd.story_id)
        decision_id = chosen_id("decision_id", cmd.decision_id, "DEC")
        if uow.decisions.get(decision_id) is not None:
            raise Conflict(f"decision {decision_id!r} already exists")
        decision = Decision(
            id=decision_id,
            story_id=cmd.story_id,
            title=required_text("title", cmd.title),
            description=cmd.description,
            proposed_by=required_text("proposed_by", cmd.proposed_by),
            created_at=now(),
            task_id=cmd.task_id,
            affects=clean_items("affects", list(cmd.affects)),
        )
        uow.decisions.add(decision)
        uow.commit()
    return decision


def _record_approval_verdict(uow: UnitOfWork, decision: Decision, story: Story) -> None:
    """An approval's verdict also goes to the workspace whose task waits for it (ADR 0612)."""
    verdict = decision.approval_verdict()
    if verdict is not None:
        subject = subjects.APPROVAL_GRANTED if verdict.approved else subjects.APPROVAL_REFUSED
        _record(uow, subject, verdict, correlation_id=story.correlation_id)


def approve_decision(cmd: c.ApproveDecision, uow: UnitOfWork) -> Decision:
    with uow:
        decision = _decision(uow, cmd.decision_id)
        story = _story(uow, decision.story_id)
        read_version = decision.version
        payload = decision.approve(by=cmd.by, rationale=cmd.rationale, at=now())
        uow.decisions.update(decision, read_version)
        _record(uow, subjects.DECISION_APPROVED, payload, correlation_id=story.correlation_id)
        _record_approval_verdict(uow, decision, story)
        uow.commit()
    return decision


def reject_decision(cmd: c.RejectDecision, uow: UnitOfWork) -> Decision:
    with uow:
        decision = _decision(uow, cmd.decision_id)
        story = _story(uow, decision.story_id)
        read_version = decision.version
        payload = decision.reject(by=cmd.by, rationale=cmd.rationale, at=now())
        uow.decisions.update(decision, read_version)
        _record(uow, subjects.DECISION_REJECTED, payload, correlation_id=story.correlation_id)
        _record_approval_verdict(uow, decision, story)
        uow.commit()
    return decision
