"""How the Context service's costs grow with the graph: 100, 1,000 and 10,000 stories in one embedded graph.

One Ladybug file grows through the sizes (stories of bench/context.py's ten-event life, applied in
batches of the projection's size straight to the store, as the projection commits them). At each size:
- the store's apply rate of that size's new events (projection throughput without the transport);
- GetContext, in process (real graph, real assembler, real Valkey cache when installed): uncached =
  the story's graph read + assembly, with a new token budget each time; cached = the same request
  again (version read + cache hit); p50/p99 over requests spread over random stories;
- the graph's size on disk and its node count.
At the largest size, publish -> graph-visible: new stories' `story.created` events published at a fixed
rate (1,000/s, 30 s) on a fresh nats-server, projected by the real consumer runtime and projector into
the same graph; visible = the projector's commit of the batch holding the story (its `context.updated`).
The bulk load's log is checkpointed first (as after any import); the live traffic's own checkpoints
(Ladybug's, at 16 MiB of log) fall inside the window and show in p99.9 and max.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.context import story_events
from bench.harness import BenchContext, percentile
from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.consumer import ConsumerRuntime
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.context.adapters.cache import ValkeyContextCache
from swe_fleet.context.adapters.graph_reader import StoryGraphReader
from swe_fleet.context.app.projector import Projector
from swe_fleet.context.app.service import ContextService
from swe_fleet.context.consumers import PROJECTION_BATCH_SIZE, consumer_specs
from swe_fleet.context.domain.policy import load_policy
from swe_fleet.context.domain.projections import project
from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.valkey_server import EmbeddedValkey, find_cache_server
from swe_fleet.events import payloads as p
from swe_fleet.events import subjects as s
from swe_fleet.events.envelope import Envelope
from swe_fleet.events.payloads import ContextUpdated, Payload
from swe_fleet.graph.ladybug_store import LadybugGraphStore
from swe_fleet.host.runner import tune_garbage_collector
from swe_fleet.tokens import EstimatingCounter

# 40,000 stories are a million nodes; the growth goal (<= 2x) is from 100 to 10,000 stories.
SIZES, QUICK_SIZES = (100, 1_000, 10_000, 40_000), (100, 1_000)
GOAL_SIZE = 10_000
LIVE_SECONDS, QUICK_LIVE_SECONDS = 30.0, 2.0  # 30 s at 1,000/s: long enough to hold a checkpoint
REQUESTS, QUICK_REQUESTS = 200, 50


def _disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size + sum(p.stat().st_size for p in path.parent.glob(path.name + ".*"))
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


async def _grow(store: LadybugGraphStore, first: int, last: int) -> float:
    """Apply the events of stories first..last-1; events per second."""
    writes = [
        project(Envelope.new(subject, payload, producer="bench"))
        for index in range(first, last)
        for subject, payload in story_events(index)
    ]
    by_subject = sorted(writes, key=lambda event: event.subject)  # as the per-subject consumers batch
    started = time.perf_counter()
    for start in range(0, len(by_subject), PROJECTION_BATCH_SIZE):
        await store.apply(by_subject[start : start + PROJECTION_BATCH_SIZE])
    return len(by_subject) / (time.perf_counter() - started)


async def _latency(service: ContextService, stories: int, requests: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    uncached, cached = [], []
    for n in range(requests):
        index = rng.randrange(stories)
        args = (f"US-{index}", "DEV", "IN_PROGRESS")
        started = time.perf_counter()
        await service.get_context(*args, 4000 + n + 1000 * seed, f"T-{index}-1")  # a new key: a miss
        uncached.append((time.perf_counter() - started) * 1000)
        if service.cache is not None:
            await service.get_context(*args, 2048, f"T-{index}-1")  # fill
            started = time.perf_counter()
            pack = await service.get_context(*args, 2048, f"T-{index}-1")
            cached.append((time.perf_counter() - started) * 1000)
            assert pack.cached
    figures = {"uncached_p50_ms": percentile(uncached, 50), "uncached_p99_ms": percentile(uncached, 99)}
    if cached:
        figures |= {"cached_p50_ms": percentile(cached, 50), "cached_p99_ms": percentile(cached, 99)}
    return {key: round(value, 2) for key, value in figures.items()}


async def publish_to_visible(
    ctx: BenchContext, store: LadybugGraphStore, rate: int, seconds: float
) -> dict[str, float]:
    """p50/p99 ms from publishing a story's creation to the commit that makes it visible in the graph."""
    server = ctx.nats("visible")
    nc = await connect(server.url, "bench-visible", wait_seconds=5)
    js = nc.jetstream()
    await ensure_streams(js)
    publisher = EventPublisher(js, "bench")
    sent: dict[str, float] = {}
    visible: dict[str, float] = {}

    async def announce(update: ContextUpdated, key: str, at: datetime) -> None:
        now = time.perf_counter()
        for story_id in update.story_ids:
            visible.setdefault(story_id, now)

    timed = _TimedCommits(store)
    projector = Projector(timed, announce)  # the store, its commits timed
    spec = next(spec for spec in consumer_specs() if spec.filter_subject == s.STORY_CREATED)
    runtime = ConsumerRuntime(nc, spec, projector.handle, DeadLetterWriter(publisher), payload_type=Payload)
    consuming = asyncio.create_task(runtime.run())
    total, in_flight = int(rate * seconds), []
    started = time.perf_counter()
    for n in range(total):  # paced: event n leaves at started + n / rate
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        story_id = f"US-LIVE-{n}"
        sent[story_id] = time.perf_counter()
        payload = p.StoryCreated(story_id=story_id, title=f"Live {n}", owner="po", created_by="po")
        in_flight.append(asyncio.create_task(publisher.publish(s.STORY_CREATED, payload)))
    await asyncio.gather(*in_flight)
    offered = total / (time.perf_counter() - started)
    deadline = time.monotonic() + 120
    while len(visible.keys() & sent.keys()) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    runtime.stop()
    await consuming
    await nc.close()
    delays = [(visible[story] - sent[story]) * 1000 for story in sent if story in visible]
    return {
        "offered_per_s": round(offered),
        "events": total,
        "seen": len(delays),
        "p50_ms": round(percentile(delays, 50), 1),
        "p99_ms": round(percentile(delays, 99), 1),
        "p999_ms": round(percentile(delays, 99.9), 1),
        "max_ms": round(max(delays, default=float("nan")), 1),
        "commits": len(timed.seconds),
        "commit_p50_ms": round(percentile(timed.seconds, 50) * 1000, 1),
        "commits_over_100ms": sorted(round(t * 1000) for t in timed.seconds if t > 0.1),
    }


class _TimedCommits:
    """The store as the projector sees it, with the wall time of each commit kept: where a tail of
    publish -> visible comes from (a commit that also checkpoints the store's log is one such)."""

    def __init__(self, store: LadybugGraphStore) -> None:
        self._store = store
        self.seconds: list[float] = []

    async def apply(self, batch: Any, **options: Any) -> Any:
        started = time.perf_counter()
        try:
            return await self._store.apply(batch, **options)
        finally:
            self.seconds.append(time.perf_counter() - started)


async def run(ctx: BenchContext) -> dict[str, Any]:
    tune_garbage_collector()  # as in the Context service's process
    sizes, requests = (QUICK_SIZES, QUICK_REQUESTS) if ctx.quick else (SIZES, REQUESTS)
    path = ctx.scratch / "scale.lbug"
    store = LadybugGraphStore(f"ladybug://{path}")
    await store.start()
    valkey = None
    if find_cache_server() is not None:
        valkey = EmbeddedValkey(ctx.scratch / "valkey", port=free_port()).start()
    cache = ValkeyContextCache(valkey.url) if valkey else None
    service = ContextService(
        StoryGraphReader(store), load_policy(), EstimatingCounter(), cache, graph_instance=store.instance_id
    )
    rows: list[dict[str, Any]] = []
    try:
        previous = 0
        for size in sizes:
            rate = await _grow(store, previous, size)
            previous = size
            nodes = (await store.read("MATCH (n) RETURN count(n) AS n"))[0]["n"]
            latency = await _latency(service, size, requests, seed=size)
            rows.append(
                {
                    "stories": size,
                    "events": size * len(story_events(0)),
                    "nodes": int(nodes),
                    "apply_per_s": round(rate),
                    "disk_mib": round(_disk_bytes(path) / 2**20, 1),
                    **latency,
                }
            )
        await store.checkpoint()
        live = await publish_to_visible(ctx, store, 1_000, QUICK_LIVE_SECONDS if ctx.quick else LIVE_SECONDS)
    finally:
        if cache is not None:
            await cache.close()
        await store.close()
        if valkey is not None:
            valkey.stop()
    first, last = rows[0], rows[-1]
    goal_row = next((row for row in rows if row["stories"] == GOAL_SIZE), last)
    growth = round(goal_row["uncached_p50_ms"] / first["uncached_p50_ms"], 2)
    result: dict[str, Any] = {
        "sizes": rows,
        "requests_per_size": requests,
        "cache": "valkey (embedded)" if valkey else "none",
        "uncached_p50_growth": growth,
        "uncached_p50_growth_to": goal_row["stories"],
        "uncached_p50_growth_largest": round(last["uncached_p50_ms"] / first["uncached_p50_ms"], 2),
        "visible": live,
        "visible_p50_ms": live["p50_ms"],
        "visible_p99_ms": live["p99_ms"],
        "targets": {
            "uncached_p50_growth<=2": growth <= 2,
            "visible_p99<=50ms": live["p99_ms"] <= 50 and live["seen"] == live["events"],
        },
    }
    for row in rows:
        for key, value in row.items():
            if key != "stories":
                result[f"{key}_at_{row['stories']}"] = value
    return result


def render(r: dict[str, Any]) -> str:
    met = r.get("targets", {})
    lines = [
        "## Context at scale (issue 16)",
        "",
        "One embedded graph grown through the sizes (stories of ten events: created, transitions, plan "
        "approved, decisions, tasks derived, a deliberation, a dispatch), applied in batches of the "
        "projection's size. GetContext in process (real graph, real assembler, cache "
        f"{r['cache']}), {r['requests_per_size']} requests per size over random stories, role DEV with a "
        "task; uncached = a new token budget each time.",
        "",
        "| stories | events | nodes | apply events/s | disk MiB | uncached p50 / p99 ms "
        "| cached p50 / p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["sizes"]:
        cached = (
            f"{row['cached_p50_ms']} / {row['cached_p99_ms']}" if "cached_p50_ms" in row else "- (no cache)"
        )
        lines.append(
            f"| {row['stories']:,} | {row['events']:,} | {row['nodes']:,} | {row['apply_per_s']:,} | "
            f"{row['disk_mib']} | {row['uncached_p50_ms']} / {row['uncached_p99_ms']} | {cached} |"
        )
    lines += [
        "",
        f"Uncached p50 from {r['sizes'][0]['stories']:,} to {r.get('uncached_p50_growth_to', 0):,} stories: "
        f"{r['uncached_p50_growth']}x "
        f"(goal <= 2x: {'met' if met.get('uncached_p50_growth<=2') else 'NOT met'}); "
        f"to {r['sizes'][-1]['stories']:,} stories ({r['sizes'][-1]['nodes']:,} nodes): "
        f"{r.get('uncached_p50_growth_largest', r['uncached_p50_growth'])}x.",
        "",
        f"Publish -> graph-visible at {r['sizes'][-1]['stories']:,} stories: {r['visible']['events']:,} "
        f"`story.created` events offered at {r['visible']['offered_per_s']:,}/s (fresh nats-server, the "
        "real consumer runtime and projector, visible = committed and announced): "
        f"p50 {r['visible_p50_ms']} ms, p99 {r['visible_p99_ms']} ms, "
        f"p99.9 {r['visible'].get('p999_ms')} ms, "
        f"max {r['visible'].get('max_ms')} ms, {r['visible']['seen']:,} seen "
        f"(goal p99 <= 50 ms: {'met' if met.get('visible_p99<=50ms') else 'NOT met'}). "
        f"{r['visible'].get('commits', 0):,} commits, p50 {r['visible'].get('commit_p50_ms')} ms; "
        f"those over 100 ms: {r['visible'].get('commits_over_100ms')} ms (the commit during which Ladybug "
        "checkpoints its log, at each 16 MiB of it, holds every later event back: the tail).",
    ]
    return "\n".join(lines)
