"""Reading planning data: read-only units of work, NotFound for unknown ids."""

from __future__ import annotations

from dataclasses import dataclass

from swe_fleet.planning.app.ports import Page, StoryFilter, UnitOfWork
from swe_fleet.planning.domain.errors import NotFound
from swe_fleet.planning.domain.model import (
    Decision,
    DecisionStatus,
    Epic,
    Plan,
    Project,
    Story,
    TransitionRecord,
)


@dataclass(frozen=True)
class StoryView:
    story: Story
    history: list[TransitionRecord]
    plans: list[Plan]


def get_project(uow: UnitOfWork, project_id: str) -> Project:
    with uow:
        project = uow.projects.get(project_id)
    if project is None:
        raise NotFound("project", project_id)
    return project


def list_projects(uow: UnitOfWork, page: Page) -> list[Project]:
    with uow:
        return uow.projects.find(page)


def get_epic(uow: UnitOfWork, epic_id: str) -> Epic:
    with uow:
        epic = uow.epics.get(epic_id)
    if epic is None:
        raise NotFound("epic", epic_id)
    return epic


def list_epics(uow: UnitOfWork, project_id: str | None, page: Page) -> list[Epic]:
    with uow:
        if project_id is not None and uow.projects.get(project_id) is None:
            raise NotFound("project", project_id)
        return uow.epics.find(project_id, page)


def get_story(uow: UnitOfWork, story_id: str) -> StoryView:
    with uow:
        story = uow.stories.get(story_id)
        if story is None:
            raise NotFound("story", story_id)
        return StoryView(story, uow.stories.transitions(story_id), uow.plans.for_story(story_id))


def list_stories(uow: UnitOfWork, where: StoryFilter, page: Page) -> list[Story]:
    with uow:
        return uow.stories.find(where, page)


def get_plan(uow: UnitOfWork, plan_id: str) -> Plan:
    with uow:
        plan = uow.plans.get(plan_id)
    if plan is None:
        raise NotFound("plan", plan_id)
    return plan


def list_plans(uow: UnitOfWork, story_id: str) -> list[Plan]:
    with uow:
        if uow.stories.get(story_id) is None:
            raise NotFound("story", story_id)
        return uow.plans.for_story(story_id)


def get_decision(uow: UnitOfWork, decision_id: str) -> Decision:
    with uow:
        decision = uow.decisions.get(decision_id)
    if decision is None:
        raise NotFound("decision", decision_id)
    return decision


def list_decisions(
    uow: UnitOfWork, story_id: str | None, status: DecisionStatus | None, page: Page
) -> list[Decision]:
    with uow:
        return uow.decisions.find(story_id, status, page)
