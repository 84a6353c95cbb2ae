"""Wiring the planning service: store, outbox relay, use cases and HTTP API, in one place."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi import APIRouter
from nats.aio.client import Client as NATS

from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.host.service import CheckResult, Endpoints, Health, Service
from swe_fleet.planning.adapters.database import Database, StoreUnavailable
from swe_fleet.planning.adapters.delivery_consumers import delivery_consumers
from swe_fleet.planning.adapters.delivery_http import build_delivery_router
from swe_fleet.planning.adapters.http_api import ERROR_STATUSES, build_router
from swe_fleet.planning.adapters.outbox import OutboxRelay, OutboxStore
from swe_fleet.planning.adapters.story_branch_merge import GitStoryBranches
from swe_fleet.planning.adapters.unit_of_work import unit_of_work_factory
from swe_fleet.planning.app.planning_app import PlanningApp
from swe_fleet.planning.app.use_cases import PRODUCER
from swe_fleet.settings import FleetSettings

# An event committed this long ago and still unpublished makes the service report itself degraded.
OUTBOX_LAG_DEGRADED = timedelta(seconds=30)


@dataclass
class PlanningParts:
    database: Database
    relay: OutboxRelay
    app: PlanningApp
    router: APIRouter


def open_database(settings: FleetSettings) -> Database:
    """Open the store and create missing tables; a store that cannot be opened says where it looked."""
    url = settings.resolved_planning_db_url
    try:
        database = Database(url, schema=settings.planning_db_schema)
        database.create_schema()
    except (sa.exc.SQLAlchemyError, OSError) as error:
        shown = sa.engine.make_url(url).render_as_string(hide_password=True) if "://" in url else url
        raise StoreUnavailable(f"cannot open the planning database at {shown}: {error}") from None
    return database


async def build_parts(settings: FleetSettings, nc: NATS, *, relay_holder: str | None = None) -> PlanningParts:
    database = await asyncio.to_thread(open_database, settings)
    js = nc.jetstream()
    await ensure_streams(js, replicas=settings.resolved_nats_replicas)
    relay = OutboxRelay(
        OutboxStore(database),
        EventPublisher(js, PRODUCER),
        holder=relay_holder,
        poll_seconds=settings.planning_outbox_poll_seconds,
        lease_seconds=settings.planning_outbox_lease_seconds,
    )
    app = PlanningApp(unit_of_work_factory(database), after_commit=relay.wake)
    return PlanningParts(database, relay, app, build_router(app))


async def build(settings: FleetSettings, nc: NATS, endpoints: Endpoints) -> Service:
    parts = await build_parts(settings, nc)
    database, relay = parts.database, parts.relay

    async def database_check() -> CheckResult:
        await asyncio.to_thread(database.ping)
        return CheckResult(Health.OK, "sqlite" if database.is_sqlite else database.url.get_backend_name())

    async def outbox_check() -> CheckResult:
        backlog = await relay.backlog()
        if backlog.oldest_recorded_at is None:
            return CheckResult(Health.OK, "no events waiting")
        waited = datetime.now(UTC) - backlog.oldest_recorded_at
        detail = f"{backlog.pending} events waiting, the oldest for {waited.total_seconds():.0f}s"
        return CheckResult(Health.DEGRADED if waited > OUTBOX_LAG_DEGRADED else Health.OK, detail)

    async def close_database() -> None:
        await asyncio.to_thread(database.dispose)

    # The lifecycle driven by results: execution's events move stories on (planning.app.delivery).
    consumers = delivery_consumers(
        nc,
        parts.app,
        DeadLetterWriter(EventPublisher(nc.jetstream(), PRODUCER)),
        review_rounds=settings.review_rounds,
    )
    return Service(
        name="planning",
        consumers=consumers,
        routers=[parts.router, build_delivery_router(parts.app, GitStoryBranches())],
        loops=[relay.run],
        checks={"database": database_check, "outbox": outbox_check},
        closers=[close_database],
        error_statuses=dict(ERROR_STATUSES),
    )
