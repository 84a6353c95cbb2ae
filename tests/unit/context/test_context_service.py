"""GetContext over in-memory ports: the policy first, the cache by graph version, then assembly."""

from __future__ import annotations

from dataclasses import replace

import pytest

from swe_fleet.context.app.service import ContextService, PhaseUnknown
from swe_fleet.context.domain.model import StoryNotFound
from swe_fleet.context.domain.policy import ScopeDenied, load_policy
from swe_fleet.tokens import EstimatingCounter
from tests.unit.context.factories import story_graph
from tests.unit.context.fakes import MemoryCache, MemoryReader


def service(reader: MemoryReader, cache: MemoryCache | None) -> ContextService:
    return ContextService(reader, load_policy(), EstimatingCounter(), cache, graph_instance="g-1")


async def test_the_same_question_at_the_same_version_is_answered_from_the_cache() -> None:
    reader, cache = MemoryReader(story_graph()), MemoryCache()
    context = service(reader, cache)
    first = await context.get_context("US-1", "DEV", "IN_PROGRESS", 4000)
    again = await context.get_context("US-1", "DEV", "IN_PROGRESS", 4000)
    assert (first.cached, again.cached, reader.loads) == (False, True, 1)
    assert again.blocks == first.blocks and again.version == first.version == 7


async def test_a_new_graph_version_misses_the_cache_and_reassembles() -> None:
    reader, cache = MemoryReader(story_graph()), MemoryCache()
    context = service(reader, cache)
    await context.get_context("US-1", "DEV", "IN_PROGRESS", 4000)
    reader.bump()
    fresh = await context.get_context("US-1", "DEV", "IN_PROGRESS", 4000)
    assert (fresh.cached, fresh.version, reader.loads) == (False, 8, 2)
    assert len(cache.entries) == 2  # the old entry is simply never asked for again


async def test_another_budget_or_role_is_another_entry() -> None:
    reader, cache = MemoryReader(story_graph()), MemoryCache()
    context = service(reader, cache)
    await context.get_context("US-1", "DEV", "IN_PROGRESS", 4000)
    other_budget = await context.get_context("US-1", "DEV", "IN_PROGRESS", 300)
    other_role = await context.get_context("US-1", "QA", "IN_PROGRESS", 4000)
    assert not other_budget.cached and not other_role.cached and reader.loads == 3
    assert other_budget.token_count <= 300


async def test_a_refused_role_learns_nothing_not_even_whether_the_story_exists() -> None:
    reader, cache = MemoryReader(story_graph()), MemoryCache()
    context = service(reader, cache)
    with pytest.raises(ScopeDenied, match="not in the scope policy"):
        await context.get_context("US-unknown", "INTRUDER", "IN_PROGRESS", 4000)
    with pytest.raises(ScopeDenied):
        await context.get_context("US-unknown", "DEV", "NOT_A_PHASE", 4000)
    assert reader.loads == 0 and cache.entries == {}


async def test_the_phase_defaults_to_the_storys_state_and_an_unknown_story_is_not_found() -> None:
    graph = story_graph()
    context = service(MemoryReader(graph), None)
    pack = await context.get_context("US-1", "DEV", None, 4000)
    assert pack.phase == "IN_PROGRESS" and not pack.cached
    with pytest.raises(StoryNotFound):
        await context.get_context("US-2", "DEV", "IN_PROGRESS", 4000)
    stateless = MemoryReader(replace(graph, story=replace(graph.story, state="")))
    with pytest.raises(PhaseUnknown):
        await service(stateless, None).get_context("US-1", "DEV", None, 4000)


async def test_rehydrate_lists_the_refused_roles_with_their_reason() -> None:
    context = service(MemoryReader(story_graph()), MemoryCache())
    packs, refused = await context.rehydrate("US-1", ["DEV", "QA", "INTRUDER", "DEV"], "IN_PROGRESS", 2000)
    assert sorted(packs) == ["DEV", "QA"] and list(refused) == ["INTRUDER"]
    assert "not in the scope policy" in refused["INTRUDER"]
