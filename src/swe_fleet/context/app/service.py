"""GetContext and RehydrateSession: policy first, then cache by version, then graph + assembly.

The scope policy is checked before anything is read, so a refused role learns nothing (not even
whether the story exists). The cached path costs one small graph read (the story's version) and
one cache lookup; the uncached path reads the story in one snapshot and assembles it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from swe_fleet.context import metrics
from swe_fleet.context.app.cache_keys import cache_key
from swe_fleet.context.app.ports import PackCache, StoryReader
from swe_fleet.context.domain.assembly import assemble
from swe_fleet.context.domain.history import as_of as as_of_graph
from swe_fleet.context.domain.history import normalise_instant
from swe_fleet.context.domain.model import ContextPack, ContextRequest
from swe_fleet.context.domain.policy import ScopeDenied, ScopePolicy
from swe_fleet.tokens import EstimatingCounter, TokenCounter

MAX_TOKEN_BUDGET = 1_000_000


class PhaseUnknown(ValueError):
    """No phase was given and the story's own state is not known yet (the API answers 422)."""


class ContextService:
    def __init__(
        self,
        reader: StoryReader,
        policy: ScopePolicy,
        counter: TokenCounter,
        cache: PackCache | None = None,
        *,
        graph_instance: str = "",
    ) -> None:
        self._graph_instance = graph_instance
        self._reader = reader
        self.policy = policy
        self.counter = counter
        self.cache = cache
        self._policy_fingerprint = policy.fingerprint()
        # The estimate is pure CPU and quick: run it inline. A remote tokenizer blocks: use a thread.
        self._assemble_in_thread = not isinstance(counter, EstimatingCounter)

    async def get_context(
        self,
        story_id: str,
        role: str,
        phase: str | None,
        token_budget: int,
        task_id: str | None = None,
        *,
        as_of: str | None = None,
        history: bool = False,
    ) -> ContextPack:
        """The pack; `as_of` (ISO 8601) = the story as it stood then, `history` = superseded decisions too."""
        started = time.perf_counter()
        instant = normalise_instant(as_of) if as_of is not None else None
        if phase is not None:
            self._authorize(role, phase)
        elif role not in self.policy.roles:
            self._authorize(role, "DRAFT")  # raises: the role itself is unknown
        story, version = await self._reader.header(story_id)
        if phase is None:
            state = story.state
            if instant is not None:  # the phase the story was in at that instant
                state = as_of_graph(await self._reader.load(story_id, task_id), instant).story.state
            if not state:
                raise PhaseUnknown(f"story {story_id!r} has no known state yet: pass phase explicitly")
            phase = state
            self._authorize(role, phase)
        request = ContextRequest(story_id, role, phase, token_budget, task_id, instant, history)
        key = self._key(request, version)
        if self.cache is not None:
            hit = await self.cache.get(key)
            if hit is not None:
                metrics.GET_CONTEXT_SECONDS.labels("true").observe(time.perf_counter() - started)
                return replace(hit, cached=True)
        graph = await self._reader.load(story_id, task_id)
        if self._assemble_in_thread:
            pack = await asyncio.to_thread(assemble, graph, request, self.policy, self.counter)
        else:
            pack = assemble(graph, request, self.policy, self.counter)
        if self.cache is not None:
            await self.cache.set(self._key(request, graph.version), pack)
        metrics.GET_CONTEXT_SECONDS.labels("false").observe(time.perf_counter() - started)
        return pack

    async def rehydrate(
        self, story_id: str, roles: list[str], phase: str | None, token_budget: int
    ) -> tuple[dict[str, ContextPack], dict[str, str]]:
        """One pack per role; roles the policy refuses are listed with the reason instead."""
        packs: dict[str, ContextPack] = {}
        refused: dict[str, str] = {}
        for role in dict.fromkeys(roles):
            try:
                packs[role] = await self.get_context(story_id, role, phase, token_budget)
            except ScopeDenied as error:
                refused[role] = str(error)
        return packs, refused

    def _authorize(self, role: str, phase: str) -> None:
        try:
            self.policy.allowed_sections(role, phase)
        except ScopeDenied:
            metrics.CONTEXT_REFUSED.labels(role if role in self.policy.roles else "unknown").inc()
            raise

    def _key(self, request: ContextRequest, version: int) -> str:
        return cache_key(
            request.story_id,
            version,
            graph=self._graph_instance,
            role=request.role,
            phase=request.phase,
            task_id=request.task_id,
            token_budget=request.token_budget,
            policy=self._policy_fingerprint,
            tokenizer=self.counter.name,
            as_of=request.as_of,
            history=request.history,
        )
