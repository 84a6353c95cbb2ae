"""In-memory stand-ins for the Context service's ports and the graph store (pure logic under test)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from swe_fleet.context.domain.model import ContextPack, StoryFacts, StoryGraph, StoryNotFound
from swe_fleet.graph.writes import ApplyResult, EventWrites


class MemoryReader:
    """One story graph; counts the full loads (the expensive read the cache exists to avoid)."""

    def __init__(self, graph: StoryGraph) -> None:
        self.graph = graph
        self.loads = 0

    async def header(self, story_id: str) -> tuple[StoryFacts, int]:
        if story_id != self.graph.story.id:
            raise StoryNotFound(f"story {story_id!r} is not in the context graph")
        return self.graph.story, self.graph.version

    async def load(self, story_id: str, task_id: str | None = None) -> StoryGraph:
        self.loads += 1
        return self.graph

    def bump(self) -> None:
        """The graph changed for the story: its version moves on."""
        self.graph = replace(self.graph, version=self.graph.version + 1)


class MemoryCache:
    def __init__(self) -> None:
        self.entries: dict[str, ContextPack] = {}

    async def get(self, key: str) -> ContextPack | None:
        return self.entries.get(key)

    async def set(self, key: str, pack: ContextPack) -> None:
        self.entries[key] = pack


class LedgerStore:
    """A graph store reduced to its contract: each event applied at most once (a ledger of event ids),
    the version bumped once per batch that applied something new; `fail_next` fails a commit."""

    url, dialect, instance_id = "memory://", "memory", "test"

    def __init__(self) -> None:
        self.ledger: list[str] = []
        self.writes: list[Any] = []
        self.version_now = 0
        self.commits = 0
        self.fail_next = 0

    async def apply(
        self, batch: Sequence[EventWrites], *, before_commit: Callable[[], None] | None = None
    ) -> ApplyResult:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("commit failed")
        fresh = [
            event
            for event in dict((e.event_id, e) for e in batch).values()
            if event.event_id not in self.ledger
        ]
        for event in fresh:
            self.ledger.append(event.event_id)
            self.writes.extend(event.writes)
        if fresh:
            self.version_now += 1
        self.commits += 1
        return ApplyResult(
            applied_event_ids=tuple(e.event_id for e in fresh),
            skipped_event_ids=tuple(e.event_id for e in batch if e not in fresh),
            story_ids=tuple(dict.fromkeys(s for e in fresh for s in e.story_ids)),
            version=self.version_now,
        )
