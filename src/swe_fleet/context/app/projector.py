"""The projection use case: a batch of delivered events -> one graph transaction -> `context.updated`.

The handler given to each durable consumer. Its guarantees, relied on by the consumer runtime:
the whole batch is committed in one transaction before it returns (then the runtime acks); a
redelivered or duplicated event changes nothing (the store's ledger skips it, and the graph version
is not bumped); `context.updated` is announced after the commit, and announced again when a batch
comes back after a crash or a failed announcement, so no change goes unannounced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from swe_fleet.backbone.consumer import Delivery
from swe_fleet.context import metrics
from swe_fleet.context.app.ports import Announce
from swe_fleet.context.domain.projections import project
from swe_fleet.errors import TransientError
from swe_fleet.events.payloads import ContextUpdated, Payload
from swe_fleet.faults import fault_point
from swe_fleet.graph.port import GraphStore
from swe_fleet.graph.writes import ApplyResult, EventWrites

log = logging.getLogger(__name__)


class AnnouncementFailed(TransientError):
    """The graph committed but `context.updated` could not be published: retry (it is re-announced)."""


@dataclass
class _Waiting:
    batch: list[EventWrites]
    done: asyncio.Future[ApplyResult]


class Projector:
    """Group commit: the batches of every durable that arrive while the graph is busy are written
    together, in one transaction, as soon as it is free; each handler still returns only once its own
    batch is committed. One commit and one statement per shape for many batches is what makes the
    projection keep up (the embedded graph pays per statement and per commit, not only per row)."""

    def __init__(self, store: GraphStore, announce: Announce | None, *, max_group_events: int = 4096) -> None:
        self._store = store
        self._announce = announce
        self._owed = False  # an announcement failed: the next batch announces whatever it finds
        self._max_group_events = max_group_events
        self._waiting: list[_Waiting] = []
        self._committer: asyncio.Task[None] | None = None

    async def handle(self, deliveries: Sequence[Delivery[Payload]]) -> None:
        started = time.perf_counter()
        batch = [project(delivery.envelope) for delivery in deliveries]
        result = await self._commit(batch)
        metrics.PROJECTION_BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.PROJECTION_BATCH_SIZE.observe(len(batch))
        metrics.GRAPH_VERSION.set(result.version)
        applied = set(result.applied_event_ids)
        for event in batch:
            metrics.PROJECTED_EVENTS.labels(
                event.subject, "applied" if event.event_id in applied else "skipped"
            ).inc()
        redelivered = any(delivery.num_delivered > 1 for delivery in deliveries)
        if result.changed or redelivered or self._owed:
            latest = max(delivery.envelope.occurred_at for delivery in deliveries)
            await self._announce_batch(batch, result, latest)

    async def _commit(self, batch: list[EventWrites]) -> ApplyResult:
        waiting = _Waiting(batch, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting())
        return await asyncio.shield(waiting.done)  # a cancelled handler leaves the group intact

    async def _commit_waiting(self) -> None:
        while self._waiting:
            group: list[_Waiting] = []
            size = 0
            while self._waiting and (
                not group or size + len(self._waiting[0].batch) <= self._max_group_events
            ):
                waiting = self._waiting.pop(0)
                group.append(waiting)
                size += len(waiting.batch)
            try:
                result = await self._apply([event for waiting in group for event in waiting.batch])
            except BaseException as error:
                if len(group) == 1 or isinstance(error, asyncio.CancelledError):
                    _settle(group, error)
                    continue
                # One batch may be what fails (poison): commit each alone, so the others go through
                # and the failure reaches only its own handler (whose runtime isolates the message).
                for waiting in group:
                    try:
                        waiting_result = await self._apply(waiting.batch)
                    except BaseException as single_error:
                        _settle([waiting], single_error)
                    else:
                        _settle([waiting], waiting_result)
                continue
            for waiting in group:
                _settle([waiting], _share_of(result, waiting.batch))

    async def _apply(self, events: list[EventWrites]) -> ApplyResult:
        result = await self._store.apply(
            events, before_commit=lambda: fault_point("context.projection.before_commit")
        )
        fault_point("context.projection.after_commit")
        return result

    async def _announce_batch(self, batch: Sequence[EventWrites], result: ApplyResult, at: datetime) -> None:
        if self._announce is None:
            return
        applied = set(result.applied_event_ids)
        # A re-announcement names the stories of the skipped events too: their first announcement
        # may be the one that was lost.
        story_ids = sorted({sid for event in batch for sid in event.story_ids})
        if not story_ids and not result.changed:
            return
        update = ContextUpdated(story_ids=story_ids, version=result.version, events_applied=len(applied))
        key = f"context.updated|{result.version}|{'|'.join(story_ids)}"
        try:
            await self._announce(update, key, at)
        except Exception as error:
            self._owed = True
            raise AnnouncementFailed(f"context.updated not published: {error!r}") from error
        self._owed = False


def _share_of(result: ApplyResult, batch: Sequence[EventWrites]) -> ApplyResult:
    """The part of a group's result that concerns one of its batches."""
    applied = set(result.applied_event_ids)
    mine_applied = tuple(event.event_id for event in batch if event.event_id in applied)
    mine_applied_set = set(mine_applied)
    return ApplyResult(
        applied_event_ids=mine_applied,
        skipped_event_ids=tuple(event.event_id for event in batch if event.event_id not in mine_applied_set),
        story_ids=tuple(
            dict.fromkeys(sid for event in batch if event.event_id in applied for sid in event.story_ids)
        ),
        version=result.version,
    )


def _settle(group: Sequence[_Waiting], outcome: ApplyResult | BaseException) -> None:
    for waiting in group:
        if waiting.done.done():
            continue
        if isinstance(outcome, BaseException):
            waiting.done.set_exception(outcome)
        else:
            waiting.done.set_result(outcome)
