"""Use cases against an in-memory unit of work: rules, recorded events, and what a refusal leaves."""

from __future__ import annotations

import pytest

from swe_fleet.events import subjects
from swe_fleet.events.payloads import Role, StoryState
from swe_fleet.planning.app import commands as c
from swe_fleet.planning.app import queries as q
from swe_fleet.planning.app import use_cases as uc
from swe_fleet.planning.domain.errors import (
    ActionNotAllowed,
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
)
from swe_fleet.planning.domain.model import DecisionStatus, PlanStatus
from tests.unit.planning.fakes import FakeUnitOfWork

S = StoryState


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


def new_story(uow: FakeUnitOfWork, **overrides) -> str:
    command = c.CreateStory(title="Login", owner="ana", created_by="ana", acceptance_criteria=("works",))
    story = uc.create_story(c.CreateStory(**{**vars(command), **overrides}), uow)
    return story.id


def move(uow: FakeUnitOfWork, story_id: str, *states: StoryState) -> None:
    for state in states:
        uc.transition_story(c.TransitionStory(story_id, state, by="ana"), uow)


def ready_for_planning(uow: FakeUnitOfWork) -> str:
    story_id = new_story(uow)
    move(uow, story_id, S.PO_REVIEW, S.READY_FOR_PLANNING)
    return story_id


def plan_for(uow: FakeUnitOfWork, story_id: str, **overrides) -> str:
    command = c.CreatePlan(
        story_id=story_id,
        description="Do it",
        acceptance_criteria=("tests pass",),
        created_by="architect",
        technical_notes="use JWT",
        roles=(Role.DEV, Role.QA, Role.DEV),
    )
    return uc.create_plan(c.CreatePlan(**{**vars(command), **overrides}), uow).id


def test_project_epic_story_each_record_their_created_event(uow: FakeUnitOfWork) -> None:
    project = uc.create_project(c.CreateProject(name="Shop", created_by="po"), uow)
    epic = uc.create_epic(c.CreateEpic(project_id=project.id, title="Auth", created_by="po"), uow)
    story_id = new_story(uow, epic_id=epic.id)

    assert [e.event_type for e in uow.published] == [
        subjects.PROJECT_CREATED,
        subjects.EPIC_CREATED,
        subjects.STORY_CREATED,
    ]
    created = uow.published[2]
    assert created.payload.story_id == story_id and created.payload.epic_id == epic.id
    assert created.payload.state is S.DRAFT
    # The story's flow is named after its creation event.
    assert created.correlation_id == created.event_id == uow.stories.get(story_id).correlation_id


def test_unknown_parents_are_not_found(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound, match="project 'nope' not found"):
        uc.create_epic(c.CreateEpic(project_id="nope", title="x", created_by="po"), uow)
    with pytest.raises(NotFound, match="epic 'nope'"):
        new_story(uow, epic_id="nope")
    assert uow.published == []


def test_chosen_ids_are_checked_and_unique(uow: FakeUnitOfWork) -> None:
    new_story(uow, story_id="US-42")
    with pytest.raises(Conflict, match="already exists"):
        new_story(uow, story_id="US-42")
    with pytest.raises(InvalidInput, match="story_id"):
        new_story(uow, story_id="has space")
    assert len(uow.published) == 1


def test_blank_text_names_the_field(uow: FakeUnitOfWork) -> None:
    with pytest.raises(InvalidInput) as refused:
        new_story(uow, title="   ")
    assert refused.value.field == "title"


def test_a_transition_records_one_event_on_the_story_flow(uow: FakeUnitOfWork) -> None:
    story_id = new_story(uow)
    uc.transition_story(c.TransitionStory(story_id, S.PO_REVIEW, by="ana", reason="ready"), uow)

    event = uow.published[-1]
    assert event.event_type == subjects.STORY_TRANSITIONED
    assert (event.payload.from_state, event.payload.to_state, event.payload.transitioned_by) == (
        S.DRAFT,
        S.PO_REVIEW,
        "ana",
    )
    assert event.correlation_id == uow.published[0].event_id
    view = q.get_story(uow, story_id)
    assert view.story.version == 2
    assert [(h.from_state, h.to_state, h.event_id) for h in view.history] == [
        (S.DRAFT, S.PO_REVIEW, event.event_id)
    ]


def test_an_illegal_transition_changes_nothing_and_names_the_allowed_targets(uow: FakeUnitOfWork) -> None:
    story_id = new_story(uow)
    with pytest.raises(IllegalTransition, match="allowed from DRAFT: PO_REVIEW"):
        uc.transition_story(c.TransitionStory(story_id, S.DONE, by="ana"), uow)
    assert len(uow.published) == 1
    assert uow.stories.get(story_id).state is S.DRAFT


def test_a_stale_expected_version_is_a_conflict(uow: FakeUnitOfWork) -> None:
    story_id = new_story(uow)
    uc.transition_story(c.TransitionStory(story_id, S.PO_REVIEW, by="a", expected_version=1), uow)
    with pytest.raises(Conflict, match="version 2, not 1"):
        uc.transition_story(c.TransitionStory(story_id, S.DRAFT, by="b", expected_version=1), uow)
    assert uow.stories.get(story_id).state is S.PO_REVIEW


def test_plans_only_in_planning_states(uow: FakeUnitOfWork) -> None:
    story_id = new_story(uow)
    with pytest.raises(ActionNotAllowed, match="READY_FOR_PLANNING, PLANNED"):
        plan_for(uow, story_id)


def test_a_plan_needs_an_acceptance_criterion(uow: FakeUnitOfWork) -> None:
    story_id = ready_for_planning(uow)
    with pytest.raises(InvalidInput) as refused:
        plan_for(uow, story_id, acceptance_criteria=())
    assert refused.value.field == "acceptance_criteria"


def test_approving_a_plan_publishes_its_content_and_moves_the_story_to_planned(uow: FakeUnitOfWork) -> None:
    story_id = ready_for_planning(uow)
    plan_id = plan_for(uow, story_id)
    before = len(uow.published)
    plan = uc.approve_plan(c.ApprovePlan(plan_id, by="po", notes="go"), uow)

    assert plan.status is PlanStatus.APPROVED and plan.roles == [Role.DEV, Role.QA]
    approved, moved = uow.published[before:]
    assert approved.event_type == subjects.PLAN_APPROVED
    p = approved.payload
    assert (p.story_id, p.plan_id, p.approved_by, p.notes) == (story_id, plan_id, "po", "go")
    assert (p.description, p.acceptance_criteria, p.technical_notes) == ("Do it", ["tests pass"], "use JWT")
    assert p.roles == [Role.DEV, Role.QA]
    assert moved.event_type == subjects.STORY_TRANSITIONED
    assert (moved.payload.from_state, moved.payload.to_state) == (S.READY_FOR_PLANNING, S.PLANNED)
    assert moved.causation_id == approved.event_id
    assert approved.correlation_id == moved.correlation_id == uow.published[0].event_id
    assert uow.stories.get(story_id).state is S.PLANNED


def test_a_plan_is_decided_once(uow: FakeUnitOfWork) -> None:
    story_id = ready_for_planning(uow)
    plan_id = plan_for(uow, story_id)
    uc.reject_plan(c.RejectPlan(plan_id, by="po", reason="too vague"), uow)
    assert uow.published[-1].payload.reason == "too vague"
    with pytest.raises(ActionNotAllowed, match="already REJECTED"):
        uc.approve_plan(c.ApprovePlan(plan_id, by="po"), uow)


def test_replanning_supersedes_the_earlier_approved_plan(uow: FakeUnitOfWork) -> None:
    story_id = ready_for_planning(uow)
    first = plan_for(uow, story_id)
    uc.approve_plan(c.ApprovePlan(first, by="po"), uow)
    second = plan_for(uow, story_id)
    before = len(uow.published)
    uc.approve_plan(c.ApprovePlan(second, by="po"), uow)

    assert [e.event_type for e in uow.published[before:]] == [subjects.PLAN_APPROVED]  # already PLANNED
    statuses = {p.id: p.status for p in q.list_plans(uow, story_id)}
    assert statuses == {first: PlanStatus.SUPERSEDED, second: PlanStatus.APPROVED}


def test_approval_outside_planning_states_is_refused(uow: FakeUnitOfWork) -> None:
    story_id = ready_for_planning(uow)
    plan_id = plan_for(uow, story_id)
    move(uow, story_id, S.DRAFT)
    with pytest.raises(ActionNotAllowed, match="is DRAFT"):
        uc.approve_plan(c.ApprovePlan(plan_id, by="po"), uow)
    assert uow.plans.get(plan_id).status is PlanStatus.PROPOSED


def test_decisions_are_approved_or_rejected_once_with_a_rationale(uow: FakeUnitOfWork) -> None:
    story_id = new_story(uow)
    proposed = uc.propose_decision(
        c.ProposeDecision(story_id=story_id, title="Use Postgres", proposed_by="architect", affects=("T-1",)),
        uow,
    )
    assert len(uow.published) == 1  # proposing publishes nothing
    with pytest.raises(InvalidInput, match="rationale"):
        uc.approve_decision(c.ApproveDecision(proposed.id, by="po", rationale=" "), uow)
    uc.approve_decision(c.ApproveDecision(proposed.id, by="po", rationale="replicas"), uow)
    event = uow.published[-1]
    assert event.event_type == subjects.DECISION_APPROVED
    assert (event.payload.decision_id, event.payload.rationale, event.payload.affects) == (
        proposed.id,
        "replicas",
        ["T-1"],
    )
    with pytest.raises(ActionNotAllowed):
        uc.reject_decision(c.RejectDecision(proposed.id, by="po", rationale="no"), uow)
    assert q.get_decision(uow, proposed.id).status is DecisionStatus.APPROVED


def test_unknown_ids_are_not_found(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound, match="story 'US-x'"):
        uc.transition_story(c.TransitionStory("US-x", S.PO_REVIEW, by="a"), uow)
    with pytest.raises(NotFound, match="plan"):
        uc.approve_plan(c.ApprovePlan("PLAN-x", by="a"), uow)
    with pytest.raises(NotFound, match="decision"):
        uc.reject_decision(c.RejectDecision("DEC-x", by="a", rationale="r"), uow)
    with pytest.raises(NotFound):
        q.list_plans(uow, "US-x")
