"""What the use cases need from persistence: repositories inside a unit of work, and an outbox.

One unit of work is one transaction. Everything a use case changes, and the events that record
those changes, commit together or not at all (the transactional outbox).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from swe_fleet.events.envelope import Envelope
from swe_fleet.events.payloads import StoryState
from swe_fleet.planning.domain.delivery import StoryDelivery
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
class Page:
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class StoryFilter:
    project_id: str | None = None
    epic_id: str | None = None
    state: StoryState | None = None
    owner: str | None = None
    # `fleet verify` probes (ids starting with swe_fleet.events.probes.PROBE_PREFIX) stay off boards.
    include_probes: bool = False


class ProjectRepository(Protocol):
    def add(self, project: Project) -> None: ...
    def get(self, project_id: str) -> Project | None: ...
    def find(self, page: Page) -> list[Project]: ...


class EpicRepository(Protocol):
    def add(self, epic: Epic) -> None: ...
    def get(self, epic_id: str) -> Epic | None: ...
    def find(self, project_id: str | None, page: Page) -> list[Epic]: ...


class StoryRepository(Protocol):
    def add(self, story: Story) -> None: ...
    def get(self, story_id: str) -> Story | None: ...
    def find(self, where: StoryFilter, page: Page) -> list[Story]: ...
    def update(self, story: Story, read_version: int) -> None:
        """Write `story` if its stored version is still `read_version`, else raise Conflict."""
        ...

    def add_transition(self, record: TransitionRecord) -> None: ...
    def transitions(self, story_id: str) -> list[TransitionRecord]: ...


class PlanRepository(Protocol):
    def add(self, plan: Plan) -> None: ...
    def get(self, plan_id: str) -> Plan | None: ...
    def for_story(self, story_id: str) -> list[Plan]: ...
    def update(self, plan: Plan, read_version: int) -> None: ...


class DecisionRepository(Protocol):
    def add(self, decision: Decision) -> None: ...
    def get(self, decision_id: str) -> Decision | None: ...
    def find(self, story_id: str | None, status: DecisionStatus | None, page: Page) -> list[Decision]: ...
    def update(self, decision: Decision, read_version: int) -> None: ...


class DeliveryRepository(Protocol):
    """A story's delivery (its tasks' results), stored as one versioned document per story."""

    def get(self, story_id: str) -> StoryDelivery | None: ...
    def save(self, delivery: StoryDelivery) -> None:
        """Insert (version 0) or update if the stored version is still `delivery.version`, else Conflict;
        bumps `delivery.version`."""
        ...


class UnitOfWork(Protocol):
    projects: ProjectRepository
    epics: EpicRepository
    stories: StoryRepository
    plans: PlanRepository
    decisions: DecisionRepository
    deliveries: DeliveryRepository

    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def record(self, envelope: Envelope) -> None:
        """Queue `envelope` for publication; it is stored in the outbox in this transaction."""
        ...


# Opens a unit of work; `write=False` gives a read-only one (no writer lock is taken).
UnitOfWorkFactory = Callable[..., UnitOfWork]


@dataclass(frozen=True)
class MergeResult:
    merge_commit: str
    base_before: str
    story_head: str
    already_merged: bool = False  # found from an earlier acceptance (a retried request)


class StoryBranches(Protocol):
    """The repository side of the PO's acceptance."""

    async def merge(self, repo: str, base: str, branch: str, message: str) -> MergeResult:
        """Merge `branch` into `base` with a merge commit (idempotent); MergeRefused/MergeConflict
        leave the repository as it was."""
        ...
