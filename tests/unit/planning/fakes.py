"""An in-memory unit of work for use-case tests: same contract as the SQL one, no database."""

from __future__ import annotations

import copy

from swe_fleet.events.envelope import Envelope
from swe_fleet.events.probes import is_probe
from swe_fleet.planning.app.ports import Page, StoryFilter
from swe_fleet.planning.domain.delivery import StoryDelivery
from swe_fleet.planning.domain.errors import Conflict
from swe_fleet.planning.domain.model import (
    Decision,
    DecisionStatus,
    Epic,
    Plan,
    Project,
    Story,
    TransitionRecord,
)


class _Table:
    def __init__(self) -> None:
        self.rows: dict[str, object] = {}

    def add(self, entity) -> None:
        if entity.id in self.rows:
            raise Conflict(f"{entity.id} exists")
        self.rows[entity.id] = copy.deepcopy(entity)

    def get(self, entity_id: str):
        found = self.rows.get(entity_id)
        return copy.deepcopy(found) if found is not None else None

    def update(self, entity, read_version: int) -> None:
        stored = self.rows.get(entity.id)
        if stored is None or stored.version != read_version:
            raise Conflict(f"{entity.id} is stale")
        self.rows[entity.id] = copy.deepcopy(entity)

    def all(self) -> list:
        return [copy.deepcopy(row) for row in self.rows.values()]


class FakeProjects(_Table):
    def find(self, page: Page) -> list[Project]:
        return self.all()[page.offset : page.offset + page.limit]


class FakeEpics(_Table):
    def find(self, project_id: str | None, page: Page) -> list[Epic]:
        rows = [e for e in self.all() if project_id is None or e.project_id == project_id]
        return rows[page.offset : page.offset + page.limit]


class FakeStories(_Table):
    def __init__(self) -> None:
        super().__init__()
        self.history: list[TransitionRecord] = []

    def find(self, where: StoryFilter, page: Page) -> list[Story]:
        rows = [
            s
            for s in self.all()
            if (where.state is None or s.state == where.state)
            and (where.owner is None or s.owner == where.owner)
            and (where.include_probes or not is_probe(s.id))
        ]
        return rows[page.offset : page.offset + page.limit]

    def add_transition(self, record: TransitionRecord) -> None:
        self.history.append(record)

    def transitions(self, story_id: str) -> list[TransitionRecord]:
        return [r for r in self.history if r.story_id == story_id]


class FakePlans(_Table):
    def for_story(self, story_id: str) -> list[Plan]:
        return [p for p in self.all() if p.story_id == story_id]


class FakeDecisions(_Table):
    def find(self, story_id: str | None, status: DecisionStatus | None, page: Page) -> list[Decision]:
        rows = [
            d
            for d in self.all()
            if (story_id is None or d.story_id == story_id) and (status is None or d.status == status)
        ]
        return rows[page.offset : page.offset + page.limit]


class FakeDeliveries:
    def __init__(self) -> None:
        self.rows: dict[str, StoryDelivery] = {}

    def get(self, story_id: str) -> StoryDelivery | None:
        found = self.rows.get(story_id)
        return copy.deepcopy(found) if found is not None else None

    def save(self, delivery: StoryDelivery) -> None:
        stored = self.rows.get(delivery.story_id)
        if (stored.version if stored else 0) != delivery.version:
            raise Conflict(f"delivery of {delivery.story_id} is stale")
        delivery.version += 1
        self.rows[delivery.story_id] = copy.deepcopy(delivery)


class FakeUnitOfWork:
    """Changes are staged on copies and kept only on commit(), like a transaction."""

    def __init__(self) -> None:
        self.projects, self.epics, self.stories = FakeProjects(), FakeEpics(), FakeStories()
        self.plans, self.decisions = FakePlans(), FakeDecisions()
        self.deliveries = FakeDeliveries()
        self.published: list[Envelope] = []  # the committed outbox
        self._staged: list[Envelope] = []
        self._snapshot: tuple | None = None
        self.commits = 0

    def _state(self) -> tuple:
        return copy.deepcopy(
            (self.projects, self.epics, self.stories, self.plans, self.decisions, self.deliveries),
        )

    def __enter__(self) -> FakeUnitOfWork:
        self._snapshot = self._state()
        self._staged = []
        return self

    def __exit__(self, *exc_info: object) -> None:  # the error, if any, propagates
        if self._snapshot is not None:
            self.rollback()

    def commit(self) -> None:
        self.published.extend(self._staged)
        self._staged, self._snapshot = [], None
        self.commits += 1

    def rollback(self) -> None:
        if self._snapshot is not None:
            (self.projects, self.epics, self.stories, self.plans, self.decisions, self.deliveries) = (
                self._snapshot
            )
        self._staged, self._snapshot = [], None

    def record(self, envelope: Envelope) -> None:
        self._staged.append(envelope)
