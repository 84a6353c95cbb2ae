"""Wires the Context service: graph store, projection consumers, cache, tokenizer, policy, HTTP API.

    service = await build(settings, nc, endpoints)

The graph, cache and LLM (tokenizer) are where `endpoints` says: `fleet up` passes the embedded
servers it started, `fleet serve` the settings' URLs. With no cache URL the service answers
uncached and reports the cache `degraded`; with no tokenizer it counts with the estimate.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nats.aio.client import Client as NATS

from swe_fleet.backbone.consumer import ConsumerRuntime
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.context.adapters.api import build_router
from swe_fleet.context.adapters.cache import ValkeyContextCache
from swe_fleet.context.adapters.graph_reader import StoryGraphReader
from swe_fleet.context.adapters.task_api import build_task_router
from swe_fleet.context.app.projector import Projector
from swe_fleet.context.app.service import ContextService, PhaseUnknown
from swe_fleet.context.consumers import PROJECTION_BATCH_SIZE, consumer_specs
from swe_fleet.context.domain.history import BadInstant, DecisionNotFound
from swe_fleet.context.domain.model import StoryNotFound, TaskNotInStory
from swe_fleet.context.domain.policy import ScopeDenied, load_policy
from swe_fleet.events import subjects
from swe_fleet.events.envelope import deterministic_event_id
from swe_fleet.events.payloads import ContextUpdated, Payload
from swe_fleet.graph.factory import open_graph_store
from swe_fleet.graph.port import GraphQueryError, GraphStore, GraphUnavailable
from swe_fleet.graph.readonly import WriteQueryRefused
from swe_fleet.host.service import CheckResult, Endpoints, Health, Service
from swe_fleet.llm.tokenizer import choose_counter
from swe_fleet.settings import FleetSettings
from swe_fleet.tokens import TokenCounter

log = logging.getLogger(__name__)

PRODUCER = "context"

ERROR_STATUSES: dict[type[Exception], int] = {
    ScopeDenied: 403,
    StoryNotFound: 404,
    TaskNotInStory: 404,
    WriteQueryRefused: 400,
    GraphQueryError: 400,
    PhaseUnknown: 422,
    BadInstant: 422,
    DecisionNotFound: 404,
    GraphUnavailable: 503,
}


@dataclass
class ContextParts:
    store: GraphStore
    projector: Projector
    service: ContextService
    reader: StoryGraphReader
    cache: ValkeyContextCache | None
    counter: TokenCounter
    publisher: EventPublisher

    async def graph_check(self) -> CheckResult:
        try:
            await self.store.ping()
            version = await self.store.version()
        except GraphUnavailable as error:
            return CheckResult(Health.DOWN, str(error))
        return CheckResult(Health.OK, f"{self.store.dialect}, graph version {version}")

    async def cache_check(self) -> CheckResult:
        if self.cache is None:
            return CheckResult(Health.DEGRADED, "no cache configured: answering uncached")
        try:
            await self.cache.ping()
        except Exception as error:
            return CheckResult(
                Health.DEGRADED, f"Valkey unreachable ({type(error).__name__}): answering uncached"
            )
        return CheckResult(Health.OK, "valkey")


async def build_parts(
    settings: FleetSettings,
    nc: NATS,
    *,
    valkey_url: str | None = None,
    llm_url: str | None = None,
    graph_url: str | None = None,
    policy_path: Path | None = None,
) -> ContextParts:
    policy = load_policy(policy_path)  # an invalid policy stops the service here, naming the entry
    js = nc.jetstream()
    await ensure_streams(js, replicas=settings.resolved_nats_replicas)
    store = open_graph_store(
        graph_url or settings.resolved_graph_url,
        neo4j_user=settings.neo4j_user,
        neo4j_password=settings.neo4j_password,
    )
    await store.start()
    publisher = EventPublisher(js, PRODUCER)

    async def announce(update: ContextUpdated, key: str, at: datetime) -> None:
        event_id = deterministic_event_id(key, at)
        await publisher.publish(subjects.CONTEXT_UPDATED, update, event_id=event_id)

    cache_url = valkey_url or settings.valkey_url
    cache = ValkeyContextCache(cache_url) if cache_url else None
    counter = await asyncio.to_thread(choose_counter, llm_url or settings.llm_url)
    reader = StoryGraphReader(store)
    service = ContextService(reader, policy, counter, cache, graph_instance=store.instance_id)
    return ContextParts(store, Projector(store, announce), service, reader, cache, counter, publisher)


async def build(
    settings: FleetSettings,
    nc: NATS,
    endpoints: Endpoints,
    *,
    policy_path: Path | None = None,
    batch_size: int = PROJECTION_BATCH_SIZE,
) -> Service:
    """`policy_path` and `batch_size` are test seams; the fleet builds it from the settings alone."""
    parts = await build_parts(
        settings,
        nc,
        valkey_url=endpoints.valkey_url,
        llm_url=endpoints.llm_url,
        graph_url=endpoints.graph_url,
        policy_path=policy_path,
    )
    dead_letters = DeadLetterWriter(parts.publisher)
    consumers = [
        ConsumerRuntime(nc, spec, parts.projector.handle, dead_letters, payload_type=Payload)
        for spec in consumer_specs(batch_size)
    ]

    async def tokenizer_check() -> CheckResult:
        return CheckResult(Health.OK, parts.counter.name)

    async def close_cache() -> None:
        if parts.cache is not None:
            await parts.cache.close()

    async def close_tokenizer() -> None:
        close = getattr(parts.counter, "close", None)
        if close is not None:
            await asyncio.to_thread(close)

    return Service(
        name="context",
        consumers=consumers,
        routers=[
            build_router(
                parts.service,
                parts.store,
                parts.reader,
                query_timeout_seconds=settings.graph_query_timeout_seconds,
                query_max_rows=settings.graph_query_max_rows,
            ),
            build_task_router(parts.store),
        ],
        checks={"graph": parts.graph_check, "cache": parts.cache_check, "tokenizer": tokenizer_check},
        closers=[parts.store.close, close_cache, close_tokenizer],
        error_statuses=dict(ERROR_STATUSES),
    )
