"""The projection use case: a batch of delivered events -> one graph transaction -> `context.updated`.

The handler given to each durable consumer. Its guarantees, relied on by the consumer runtime:
the whole batch is committed in one transaction before it returns (then the runtime acks); a
redelivered or duplicated event changes nothing (the store's ledger skips it, and the graph version
is not bumped); `context.updated` is announced after the commit, and announced again when a batch
comes back after a crash or a failed announcement, so no change goes unannounced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from swe_fleet.backbone.consumer import Delivery
from swe_fleet.context.adapters import metrics
from swe_fleet.context.domain.projections import project
from swe_fleet.errors import TransientError
from swe_fleet.events.payloads import ContextUpdated
from swe_fleet.faults import fault_point
from swe_fleet.graph.port import GraphStore
from swe_fleet.graph.writes import ApplyResult, EventWrites

log = logging.getLogger(__name__)

# Publishes a ContextUpdated under an event id derived from (key, at), so that announcing the same
# change twice within JetStream's duplicate window stores it once.
Announce = Callable[[ContextUpdated, str, datetime], Awaitable[None]]


class AnnouncementFailed(TransientError):
    """The graph committed but `context.updated` could not be published: retry (it is re-announced)."""


class Projector:
    def __init__(self, store: GraphStore, announce: Announce | None) -> None:
        self._store = store
        self._announce = announce
        self._owed = False  # an announcement failed: the next batch announces whatever it finds

    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        started = time.perf_counter()
        batch = [project(delivery.envelope) for delivery in deliveries]
        result = await self._store.apply(
            batch, before_commit=lambda: fault_point("context.projection.before_commit")
        )
        fault_point("context.projection.after_commit")
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
