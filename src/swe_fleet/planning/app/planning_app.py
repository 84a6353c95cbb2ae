"""The async face of the use cases: runs them off the event loop, then wakes the outbox relay.

Store calls block (SQLAlchemy Core on SQLite or psycopg), so each use case runs whole in a worker
thread via `asyncio.to_thread`; the event loop keeps serving other requests meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from swe_fleet.faults import fault_point
from swe_fleet.planning.app.ports import UnitOfWork, UnitOfWorkFactory

R = TypeVar("R")


class PlanningApp:
    def __init__(self, uow_factory: UnitOfWorkFactory, *, after_commit: Callable[[], None] = lambda: None):
        self._uow_factory = uow_factory
        self._after_commit = after_commit

    async def execute(self, use_case: Callable[[Any, UnitOfWork], R], command: Any) -> R:
        """Run a changing use case in its own transaction; its events are in the outbox on return."""
        result = await asyncio.to_thread(use_case, command, self._uow_factory(write=True))
        # A crash here leaves committed outbox rows unpublished: the relay must publish them on restart.
        fault_point("planning.outbox.after_commit")
        self._after_commit()
        return result

    async def query(self, query: Callable[..., R], *args: Any) -> R:
        return await asyncio.to_thread(query, self._uow_factory(write=False), *args)
