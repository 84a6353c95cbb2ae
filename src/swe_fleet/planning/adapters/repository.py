"""SQL repositories for planning entities: rows in, dataclasses out, optimistic version checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from swe_fleet.events.payloads import Role, StoryState
from swe_fleet.events.probes import PROBE_PREFIX
from swe_fleet.planning.adapters import tables as t
from swe_fleet.planning.app.ports import Page, StoryFilter
from swe_fleet.planning.domain.delivery import StoryDelivery
from swe_fleet.planning.domain.delivery_document import delivery_of, document_of
from swe_fleet.planning.domain.errors import Conflict
from swe_fleet.planning.domain.model import (
    Decision,
    DecisionStatus,
    Epic,
    Plan,
    PlanStatus,
    Project,
    Story,
    TransitionRecord,
)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(value: datetime) -> datetime:
    result = _utc(value)
    assert result is not None
    return result


def _updated(
    connection: Connection, table: sa.Table, kind: str, entity_id: str, read_version: int, values: dict
) -> None:
    """Optimistic concurrency: the write lands only if nobody changed the row since it was read."""
    result = connection.execute(
        table.update().where(table.c.id == entity_id, table.c.version == read_version).values(**values)
    )
    if result.rowcount != 1:
        raise Conflict(
            f"{kind} {entity_id} was changed by someone else meanwhile (version {read_version} is stale); "
            "read it again and retry"
        )


class SqlProjects:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, project: Project) -> None:
        self._db.execute(
            t.projects.insert().values(
                id=project.id,
                name=project.name,
                description=project.description,
                created_by=project.created_by,
                created_at=project.created_at,
                repo=project.repo,
                base_branch=project.base_branch,
                test_command=project.test_command,
            )
        )

    def get(self, project_id: str) -> Project | None:
        row = self._db.execute(sa.select(t.projects).where(t.projects.c.id == project_id)).mappings().first()
        return self._load(row) if row else None

    def find(self, page: Page) -> list[Project]:
        query = sa.select(t.projects).order_by(t.projects.c.created_at, t.projects.c.id)
        rows = self._db.execute(query.limit(page.limit).offset(page.offset)).mappings()
        return [self._load(row) for row in rows]

    @staticmethod
    def _load(row: RowMapping) -> Project:
        return Project(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            created_by=row["created_by"],
            created_at=_when(row["created_at"]),
            repo=row["repo"],
            base_branch=row["base_branch"],
            test_command=row["test_command"],
        )


class SqlEpics:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, epic: Epic) -> None:
        self._db.execute(
            t.epics.insert().values(
                id=epic.id,
                project_id=epic.project_id,
                title=epic.title,
                description=epic.description,
                created_by=epic.created_by,
                created_at=epic.created_at,
            )
        )

    def get(self, epic_id: str) -> Epic | None:
        row = self._db.execute(sa.select(t.epics).where(t.epics.c.id == epic_id)).mappings().first()
        return self._load(row) if row else None

    def find(self, project_id: str | None, page: Page) -> list[Epic]:
        query = sa.select(t.epics).order_by(t.epics.c.created_at, t.epics.c.id)
        if project_id is not None:
            query = query.where(t.epics.c.project_id == project_id)
        rows = self._db.execute(query.limit(page.limit).offset(page.offset)).mappings()
        return [self._load(row) for row in rows]

    @staticmethod
    def _load(row: RowMapping) -> Epic:
        return Epic(
            id=row["id"],
            project_id=row["project_id"],
            title=row["title"],
            description=row["description"],
            created_by=row["created_by"],
            created_at=_when(row["created_at"]),
        )


class SqlStories:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    @staticmethod
    def _values(story: Story) -> dict[str, Any]:
        return {
            "epic_id": story.epic_id,
            "title": story.title,
            "brief": story.brief,
            "acceptance_criteria": list(story.acceptance_criteria),
            "owner": story.owner,
            "state": story.state.value,
            "created_by": story.created_by,
            "created_at": story.created_at,
            "updated_at": story.updated_at,
            "correlation_id": story.correlation_id,
            "token_budget": story.token_budget,
            "version": story.version,
        }

    def add(self, story: Story) -> None:
        self._db.execute(t.stories.insert().values(id=story.id, **self._values(story)))

    def get(self, story_id: str) -> Story | None:
        row = self._db.execute(sa.select(t.stories).where(t.stories.c.id == story_id)).mappings().first()
        return self._load(row) if row else None

    def find(self, where: StoryFilter, page: Page) -> list[Story]:
        query = sa.select(t.stories).order_by(t.stories.c.created_at, t.stories.c.id)
        if where.epic_id is not None:
            query = query.where(t.stories.c.epic_id == where.epic_id)
        if where.project_id is not None:
            in_project = sa.select(t.epics.c.id).where(t.epics.c.project_id == where.project_id)
            query = query.where(t.stories.c.epic_id.in_(in_project))
        if where.state is not None:
            query = query.where(t.stories.c.state == where.state.value)
        if where.owner is not None:
            query = query.where(t.stories.c.owner == where.owner)
        if not where.include_probes:
            query = query.where(t.stories.c.id.not_like(f"{PROBE_PREFIX}%"))
        rows = self._db.execute(query.limit(page.limit).offset(page.offset)).mappings()
        return [self._load(row) for row in rows]

    def update(self, story: Story, read_version: int) -> None:
        _updated(self._db, t.stories, "story", story.id, read_version, self._values(story))

    def add_transition(self, record: TransitionRecord) -> None:
        self._db.execute(
            t.story_transitions.insert().values(
                story_id=record.story_id,
                from_state=record.from_state.value,
                to_state=record.to_state.value,
                transitioned_by=record.by,
                reason=record.reason,
                at=record.at,
                event_id=record.event_id,
            )
        )

    def transitions(self, story_id: str) -> list[TransitionRecord]:
        rows = self._db.execute(
            sa.select(t.story_transitions)
            .where(t.story_transitions.c.story_id == story_id)
            .order_by(t.story_transitions.c.seq)
        ).mappings()
        return [
            TransitionRecord(
                story_id=row["story_id"],
                from_state=StoryState(row["from_state"]),
                to_state=StoryState(row["to_state"]),
                by=row["transitioned_by"],
                reason=row["reason"],
                at=_when(row["at"]),
                event_id=row["event_id"],
            )
            for row in rows
        ]

    @staticmethod
    def _load(row: RowMapping) -> Story:
        return Story(
            id=row["id"],
            epic_id=row["epic_id"],
            title=row["title"],
            brief=row["brief"],
            acceptance_criteria=list(row["acceptance_criteria"]),
            owner=row["owner"],
            created_by=row["created_by"],
            created_at=_when(row["created_at"]),
            updated_at=_when(row["updated_at"]),
            correlation_id=row["correlation_id"],
            state=StoryState(row["state"]),
            version=row["version"],
            token_budget=row.get("token_budget"),
        )


class SqlPlans:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    @staticmethod
    def _values(plan: Plan) -> dict[str, Any]:
        return {
            "story_id": plan.story_id,
            "description": plan.description,
            "acceptance_criteria": list(plan.acceptance_criteria),
            "technical_notes": plan.technical_notes,
            "roles": [role.value for role in plan.roles],
            "created_by": plan.created_by,
            "created_at": plan.created_at,
            "status": plan.status.value,
            "decided_by": plan.decided_by,
            "decided_at": plan.decided_at,
            "verdict_note": plan.verdict_note,
            "version": plan.version,
        }

    def add(self, plan: Plan) -> None:
        self._db.execute(t.plans.insert().values(id=plan.id, **self._values(plan)))

    def get(self, plan_id: str) -> Plan | None:
        row = self._db.execute(sa.select(t.plans).where(t.plans.c.id == plan_id)).mappings().first()
        return self._load(row) if row else None

    def for_story(self, story_id: str) -> list[Plan]:
        query = sa.select(t.plans).where(t.plans.c.story_id == story_id)
        rows = self._db.execute(query.order_by(t.plans.c.created_at, t.plans.c.id)).mappings()
        return [self._load(row) for row in rows]

    def update(self, plan: Plan, read_version: int) -> None:
        _updated(self._db, t.plans, "plan", plan.id, read_version, self._values(plan))

    @staticmethod
    def _load(row: RowMapping) -> Plan:
        return Plan(
            id=row["id"],
            story_id=row["story_id"],
            description=row["description"],
            acceptance_criteria=list(row["acceptance_criteria"]),
            technical_notes=row["technical_notes"],
            roles=[Role(role) for role in row["roles"]],
            created_by=row["created_by"],
            created_at=_when(row["created_at"]),
            status=PlanStatus(row["status"]),
            decided_by=row["decided_by"],
            decided_at=_utc(row["decided_at"]),
            verdict_note=row["verdict_note"],
            version=row["version"],
        )


class SqlDecisions:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    @staticmethod
    def _values(decision: Decision) -> dict[str, Any]:
        return {
            "story_id": decision.story_id,
            "task_id": decision.task_id,
            "title": decision.title,
            "description": decision.description,
            "affects": list(decision.affects),
            "proposed_by": decision.proposed_by,
            "created_at": decision.created_at,
            "status": decision.status.value,
            "decided_by": decision.decided_by,
            "decided_at": decision.decided_at,
            "rationale": decision.rationale,
            "version": decision.version,
        }

    def add(self, decision: Decision) -> None:
        self._db.execute(t.decisions.insert().values(id=decision.id, **self._values(decision)))

    def get(self, decision_id: str) -> Decision | None:
        query = sa.select(t.decisions).where(t.decisions.c.id == decision_id)
        row = self._db.execute(query).mappings().first()
        return self._load(row) if row else None

    def find(self, story_id: str | None, status: DecisionStatus | None, page: Page) -> list[Decision]:
        query = sa.select(t.decisions).order_by(t.decisions.c.created_at, t.decisions.c.id)
        if story_id is not None:
            query = query.where(t.decisions.c.story_id == story_id)
        if status is not None:
            query = query.where(t.decisions.c.status == status.value)
        rows = self._db.execute(query.limit(page.limit).offset(page.offset)).mappings()
        return [self._load(row) for row in rows]

    def update(self, decision: Decision, read_version: int) -> None:
        _updated(self._db, t.decisions, "decision", decision.id, read_version, self._values(decision))

    @staticmethod
    def _load(row: RowMapping) -> Decision:
        return Decision(
            id=row["id"],
            story_id=row["story_id"],
            title=row["title"],
            description=row["description"],
            proposed_by=row["proposed_by"],
            created_at=_when(row["created_at"]),
            task_id=row["task_id"],
            affects=list(row["affects"]),
            status=DecisionStatus(row["status"]),
            decided_by=row["decided_by"],
            decided_at=_utc(row["decided_at"]),
            rationale=row["rationale"],
            version=row["version"],
        )


class SqlDeliveries:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def get(self, story_id: str) -> StoryDelivery | None:
        query = sa.select(t.story_deliveries).where(t.story_deliveries.c.story_id == story_id)
        row = self._db.execute(query).mappings().first()
        return delivery_of(story_id, row["document"], row["version"]) if row else None

    def save(self, delivery: StoryDelivery) -> None:
        values = {"document": document_of(delivery), "updated_at": datetime.now(UTC)}
        table = t.story_deliveries
        if delivery.version == 0:
            self._db.execute(table.insert().values(story_id=delivery.story_id, version=1, **values))
        else:
            result = self._db.execute(
                table.update()
                .where(table.c.story_id == delivery.story_id, table.c.version == delivery.version)
                .values(version=delivery.version + 1, **values)
            )
            if result.rowcount != 1:
                raise Conflict(f"the delivery of story {delivery.story_id} changed meanwhile; retry")
        delivery.version += 1
