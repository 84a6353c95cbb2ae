"""One transaction on the planning store, with the repositories and the outbox inside it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from swe_fleet.events.envelope import Envelope, encode_event
from swe_fleet.planning.adapters import tables as t
from swe_fleet.planning.adapters.database import Database, StoreUnavailable
from swe_fleet.planning.adapters.repository import (
    SqlDecisions,
    SqlDeliveries,
    SqlEpics,
    SqlPlans,
    SqlProjects,
    SqlStories,
)
from swe_fleet.planning.app.ports import (
    DecisionRepository,
    DeliveryRepository,
    EpicRepository,
    PlanRepository,
    ProjectRepository,
    StoryRepository,
)
from swe_fleet.planning.domain.errors import Conflict, InvalidInput


class SqlUnitOfWork:
    """`with uow: ...; uow.commit()` — leaving the block without commit() rolls everything back."""

    projects: ProjectRepository
    epics: EpicRepository
    stories: StoryRepository
    plans: PlanRepository
    decisions: DecisionRepository
    deliveries: DeliveryRepository

    def __init__(self, database: Database, *, write: bool = True) -> None:
        self._database = database
        self._write = write
        self._stack: contextlib.ExitStack | None = None
        self._connection: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        stack = contextlib.ExitStack()
        try:
            connection = stack.enter_context(self._database.connect(write=self._write))
            self._transaction = connection.begin()
        except sa.exc.OperationalError as error:
            stack.close()
            raise StoreUnavailable(f"planning database unavailable: {error.orig}") from None
        self._stack, self._connection = stack, connection
        self.projects = SqlProjects(connection)
        self.epics = SqlEpics(connection)
        self.stories = SqlStories(connection)
        self.plans = SqlPlans(connection)
        self.decisions = SqlDecisions(connection)
        self.deliveries = SqlDeliveries(connection)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, _tb: TracebackType | None
    ) -> None:
        assert self._stack is not None
        try:
            if self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self._stack.close()
            self._stack = self._connection = None
        _translate(error)

    def commit(self) -> None:
        self._transaction.commit()

    def rollback(self) -> None:
        self._transaction.rollback()

    def record(self, envelope: Envelope) -> None:
        if not self._write or self._connection is None:
            raise RuntimeError("events can only be recorded in a writing unit of work")
        self._connection.execute(
            t.outbox.insert().values(
                event_id=envelope.event_id,
                subject=envelope.event_type,
                data=encode_event(envelope),
                correlation_id=envelope.correlation_id,
                recorded_at=datetime.now(UTC),
                published_at=None,
            )
        )


def _translate(error: BaseException | None) -> None:
    """Database errors the caller can act on become planning errors; anything else propagates."""
    if isinstance(error, sa.exc.IntegrityError):
        # Two creations racing for one chosen id: the loser's insert hits the primary key.
        raise Conflict(f"the change conflicts with data stored meanwhile: {_first_line(error)}") from error
    if isinstance(error, sa.exc.DataError):
        raise InvalidInput("input", f"a value cannot be stored: {_first_line(error)}") from error
    if isinstance(error, sa.exc.OperationalError):
        raise StoreUnavailable(f"planning database unavailable: {_first_line(error)}") from error


def _first_line(error: sa.exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig is not None else type(error).__name__


def unit_of_work_factory(database: Database) -> Callable[..., SqlUnitOfWork]:
    def open_unit_of_work(*, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(database, write=write)

    return open_unit_of_work
