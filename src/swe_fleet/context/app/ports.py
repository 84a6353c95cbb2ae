"""What the Context use cases need from the outside: a story reader, a pack cache, an announcer.

Adapters implement them (`adapters/graph_reader.py` over any `GraphStore`, `adapters/cache.py` over
Valkey); unit tests give in-memory fakes. The graph store itself is the shared `graph.port.GraphStore`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from swe_fleet.context.domain.model import ContextPack, StoryFacts, StoryGraph
from swe_fleet.events.payloads import ContextUpdated


class StoryReader(Protocol):
    async def header(self, story_id: str) -> tuple[StoryFacts, int]:
        """The story's own facts and its context version; raises StoryNotFound."""
        ...

    async def load(self, story_id: str, task_id: str | None = None) -> StoryGraph:
        """Everything the story's context is assembled from, read in one snapshot."""
        ...


class PackCache(Protocol):
    """Assembled packs by key; a miss (or an unreachable cache) is None, never an error."""

    async def get(self, key: str) -> ContextPack | None: ...

    async def set(self, key: str, pack: ContextPack) -> None: ...


# Publishes a ContextUpdated under an event id derived from (key, at), so that announcing the same
# change twice within JetStream's duplicate window stores it once.
Announce = Callable[[ContextUpdated, str, datetime], Awaitable[None]]
