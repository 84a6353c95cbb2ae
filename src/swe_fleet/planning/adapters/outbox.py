"""The transactional outbox: committed events waiting in the store, and the relay that publishes them.

A use case writes its change and the encoded envelope of its event in one transaction, so an
event exists if and only if its change committed. The relay publishes pending rows in `seq` order
with `Nats-Msg-Id` = event_id and then stamps them published. A crash between the publish and the
stamp re-publishes the row on restart: JetStream drops the copy inside the stream's duplicate
window, and consumers are idempotent by event_id beyond it.

One relay publishes at a time (a lease row in the store), so replicas do not interleave or
duplicate; if its holder dies, another replica takes over when the lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from prometheus_client import Counter, Gauge

from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.faults import fault_point
from swe_fleet.planning.adapters import tables as t
from swe_fleet.planning.adapters.database import Database

log = logging.getLogger(__name__)

_PUBLISHED = Counter("fleet_planning_outbox_published_total", "Outbox events published to JetStream")
_BACKLOG = Gauge("fleet_planning_outbox_backlog", "Outbox events committed but not yet published")

LEASE_NAME = "outbox-relay"


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    event_id: str
    subject: str
    data: bytes


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_recorded_at: datetime | None


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class OutboxStore:
    """Blocking outbox queries; the relay calls them through `asyncio.to_thread`."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def pending(self, limit: int) -> list[PendingEvent]:
        query = (
            sa.select(t.outbox.c.seq, t.outbox.c.event_id, t.outbox.c.subject, t.outbox.c.data)
            .where(t.outbox.c.published_at.is_(None))
            .order_by(t.outbox.c.seq)
            .limit(limit)
        )
        with self._database.connect(write=False) as connection, connection.begin():
            rows = connection.execute(query).all()
        return [PendingEvent(row.seq, row.event_id, row.subject, bytes(row.data)) for row in rows]

    def mark_published(self, seqs: Sequence[int]) -> None:
        with self._database.connect(write=True) as connection, connection.begin():
            connection.execute(
                t.outbox.update().where(t.outbox.c.seq.in_(list(seqs))).values(published_at=datetime.now(UTC))
            )

    def backlog(self) -> Backlog:
        query = sa.select(sa.func.count(), sa.func.min(t.outbox.c.recorded_at)).where(
            t.outbox.c.published_at.is_(None)
        )
        with self._database.connect(write=False) as connection, connection.begin():
            count, oldest = connection.execute(query).one()
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        return Backlog(int(count), oldest)

    def purge_published(self, older_than: timedelta) -> int:
        cutoff = datetime.now(UTC) - older_than
        published = t.outbox.c.published_at
        with self._database.connect(write=True) as connection, connection.begin():
            result = connection.execute(t.outbox.delete().where(published.is_not(None), published < cutoff))
        return int(result.rowcount or 0)

    def acquire_lease(self, holder: str, ttl_seconds: float) -> bool:
        """Take or renew the relay lease; False while another live holder has it."""
        now = time.time()
        lease = t.outbox_lease
        with self._database.connect(write=True) as connection, connection.begin():
            taken = connection.execute(
                lease.update()
                .where(lease.c.name == LEASE_NAME, sa.or_(lease.c.holder == holder, lease.c.expires_at < now))
                .values(holder=holder, expires_at=now + ttl_seconds)
            ).rowcount
            if taken:
                return True
            exists = connection.execute(sa.select(lease.c.name).where(lease.c.name == LEASE_NAME)).first()
            if exists:
                return False
            try:
                with connection.begin_nested():
                    connection.execute(
                        lease.insert().values(name=LEASE_NAME, holder=holder, expires_at=now + ttl_seconds)
                    )
            except sa.exc.IntegrityError:  # another replica created it first
                return False
            return True

    def release_lease(self, holder: str) -> None:
        lease = t.outbox_lease
        with self._database.connect(write=True) as connection, connection.begin():
            mine = sa.and_(lease.c.name == LEASE_NAME, lease.c.holder == holder)
            connection.execute(lease.update().where(mine).values(expires_at=0.0))


class OutboxRelay:
    """Publishes committed outbox rows in order; woken after each commit, polling as a fallback."""

    def __init__(
        self,
        store: OutboxStore,
        publisher: EventPublisher,
        *,
        holder: str | None = None,
        poll_seconds: float = 1.0,
        batch_size: int = 200,
        lease_seconds: float = 10.0,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self._store = store
        self._publisher = publisher
        self.holder = holder or default_holder()
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.retention = retention
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lease_renew_at = 0.0
        self._next_purge_at = 0.0
        self.published_total = 0

    def wake(self) -> None:
        """Publish now: called right after a commit that recorded events (from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # not running: the next run() starts by draining anyway
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:  # asyncio.Event is not thread-safe: hand the wake-up to the relay's own loop
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    more = await self.relay_once()
                    failures = 0
                except Exception as error:  # NATS or the store down: keep the rows, try again later
                    failures += 1
                    log.warning("outbox relay: %s (attempt %d); retrying", error, failures)
                    more = False
                    await self._sleep(stop, min(self.poll_seconds * failures, 10.0))
                    continue
                if not more:
                    await self._sleep(stop, self.poll_seconds)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._store.release_lease, self.holder)

    async def relay_once(self) -> bool:
        """Publish one batch of pending events if this relay holds the lease; True if more wait."""
        # Cleared before the lease check and the read: a commit after the read wakes us again, and a
        # replica without the lease goes back to polling instead of spinning on a wake-up it cannot use.
        self._wake.clear()
        if not await self._hold_lease():
            return False
        batch = await asyncio.to_thread(self._store.pending, self.batch_size)
        published: list[int] = []
        try:
            for event in batch:
                await self._publisher.publish_raw(event.subject, event.data, msg_id=event.event_id)
                # A crash here re-publishes the event on restart; JetStream drops the copy by msg-id.
                fault_point("planning.outbox.after_publish")
                published.append(event.seq)
        finally:
            if published:
                await asyncio.to_thread(self._store.mark_published, published)
                _PUBLISHED.inc(len(published))
                self.published_total += len(published)
        await self._purge_if_due()
        return len(batch) == self.batch_size

    async def _hold_lease(self) -> bool:
        now = time.monotonic()
        if now < self._lease_renew_at:
            return True
        if await asyncio.to_thread(self._store.acquire_lease, self.holder, self.lease_seconds):
            self._lease_renew_at = now + self.lease_seconds / 3  # renew well before it can expire
            return True
        return False

    async def _purge_if_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_purge_at:
            self._next_purge_at = now + 3600
            purged = await asyncio.to_thread(self._store.purge_published, self.retention)
            if purged:
                log.info("outbox: purged %d published rows older than %s", purged, self.retention)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def backlog(self) -> Backlog:
        backlog = await asyncio.to_thread(self._store.backlog)
        _BACKLOG.set(backlog.pending)
        return backlog
