"""The timer loop: enforces command deadlines and finishes work a crashed writer left half done.

It follows the state bucket with a KV watcher (every key's latest value, then every change), so a
restarted orchestrator sees every in-flight deliberation at once. Each tick it
- times out the commands past their deadline (a dead agent cannot stall a deliberation) — but not
  while answers still wait in the responses stream, unless the deadline is long past: an
  orchestrator that was down must first read the answers that came in time;
- settles any state whose outbox or follow-ups have stayed owed for a moment (the writer died
  between its state write and its publish).
Every replica runs one; compare-and-set makes their actions idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from swe_fleet.orchestrator.app.orchestrator import Orchestrator
from swe_fleet.orchestrator.app.ports import StateStore
from swe_fleet.orchestrator.domain import story as stories
from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState
from swe_fleet.orchestrator.domain.story import StoryRecord

log = logging.getLogger(__name__)


@dataclass
class _Seen:
    value: StoryRecord | DeliberationState
    seen_at: float  # monotonic


class Sweeper:
    def __init__(
        self,
        orchestrator: Orchestrator,
        store: StateStore,
        *,
        responses_backlog: Callable[[], Awaitable[int]],
        tick_seconds: float = 0.5,
        settle_grace_seconds: float = 2.0,
        backlog_grace_seconds: float = 15.0,
        resync_seconds: float = 60.0,
    ) -> None:
        self._orchestrator = orchestrator
        self._store = store
        self._responses_backlog = responses_backlog
        self._tick = tick_seconds
        self._settle_grace = settle_grace_seconds
        self._backlog_grace = backlog_grace_seconds
        self._resync = resync_seconds
        self._seen: dict[str, _Seen] = {}
        self.caught_up = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # A fresh watcher now and then: its push consumer has no heartbeat and could go quiet
            # after a server restart; a new one starts again from every key's latest value.
            follower = asyncio.create_task(self._follow(), name="orchestrator-state-watch")
            renew_at = time.monotonic() + self._resync
            try:
                while not stop.is_set() and not follower.done() and time.monotonic() < renew_at:
                    if self.caught_up.is_set():
                        await self.sweep()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), self._tick)
            finally:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await follower
            if follower.done() and not follower.cancelled() and follower.exception() is not None:
                log.warning("state watcher stopped (%r); starting a new one", follower.exception())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    async def _follow(self) -> None:
        async for change in self._store.watch():
            if change is None:
                self.caught_up.set()
            elif change.value is None:
                self._seen.pop(change.key, None)
            else:
                self._seen[change.key] = _Seen(change.value, time.monotonic())

    async def sweep(self) -> None:
        """One pass over every known state (also callable directly, e.g. from tests)."""
        now, moment = self._orchestrator.clock(), time.monotonic()
        overdue: list[tuple[float, Callable[[], Awaitable[None]]]] = []
        for seen in list(self._seen.values()):
            value, settled_long_ago = seen.value, moment - seen.seen_at >= self._settle_grace
            if isinstance(value, DeliberationState):
                if value.outbox and settled_long_ago:
                    await self._guard(self._orchestrator.settle_deliberation(value.deliberation_id))
                deadline = value.next_deadline
                if not value.status.terminal and deadline is not None and now >= deadline:
                    act = self._bind(self._orchestrator.deliberation_deadline, value.deliberation_id)
                    overdue.append((deadline, act))
            else:
                if value.needs_follow_up() and settled_long_ago:
                    await self._guard(self._orchestrator.settle_story(value.story_id))
                deadline = stories.next_deadline(value)
                if deadline is not None and now >= deadline:
                    overdue.append((deadline, self._bind(self._orchestrator.story_deadline, value.story_id)))
        if not overdue:
            return
        backlog = await self._backlog()
        for deadline, act in overdue:
            if backlog == 0 or now >= deadline + self._backlog_grace:
                await self._guard(act())

    async def _backlog(self) -> int:
        try:
            return await self._responses_backlog()
        except Exception as error:
            log.debug("responses backlog unknown (%r): deadlines wait for the grace period", error)
            return 1

    @staticmethod
    def _bind(action: Callable[[str], Awaitable[None]], identifier: str) -> Callable[[], Awaitable[None]]:
        return lambda: action(identifier)

    @staticmethod
    async def _guard(work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as error:  # the next tick tries again; the loop itself must never die
            log.warning("orchestrator timer: %r", error)
