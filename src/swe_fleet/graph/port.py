"""The graph store port: the few operations the fleet needs from a graph database, nothing more."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from swe_fleet.errors import TransientError
from swe_fleet.graph.writes import ApplyResult, EventWrites

Row = dict[str, Any]


class GraphUnavailable(TransientError):
    """The graph store cannot be reached or is not open: retry later."""


class GraphQueryError(ValueError):
    """A read query the store rejected (syntax, unknown label...): the caller's fault, not an outage."""


class GraphStore(Protocol):
    """A graph database holding the fleet's decision graph.

    `apply` commits a batch of events' writes in ONE transaction, each event at most once: events
    already in the ledger are skipped, and the graph version is bumped only when something new was
    applied. `read` runs a read-only query (enforced by the store, not only by the caller).
    """

    url: str
    dialect: str
    # Drawn when the graph was created; with the version it identifies a state of this very graph.
    instance_id: str

    async def start(self) -> None:
        """Open the store and create the schema, uniqueness constraints and indexes (idempotent)."""

    async def close(self) -> None: ...

    async def apply(
        self, batch: Sequence[EventWrites], *, before_commit: Callable[[], None] | None = None
    ) -> ApplyResult: ...

    async def read(self, query: str, params: dict[str, Any] | None = None) -> list[Row]: ...

    async def read_many(self, queries: Sequence[tuple[str, dict[str, Any]]]) -> list[list[Row]]:
        """Several read queries in one read-only transaction: one consistent snapshot."""

    async def read_limited(
        self, query: str, params: dict[str, Any], *, max_rows: int, timeout_seconds: float
    ) -> tuple[list[Row], bool]:
        """One read-only query cut off by the store after `timeout_seconds` (GraphQueryError), at most
        `max_rows` rows returned, and whether more were there: for queries written by callers."""

    async def version(self) -> int:
        """The graph version: bumped once per committed batch that applied a new event."""

    async def ping(self) -> None:
        """Raise GraphUnavailable unless the store answers a trivial query."""
