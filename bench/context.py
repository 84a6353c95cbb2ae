"""Context benchmark: projection throughput into the embedded graph, and GetContext latency over HTTP.

Projection (one fresh nats-server, the same pre-published events for every contender):
- raw: one nats-py pull consumer per subject, `fetch(256)` + `ack` (the ceiling for any consumer);
- fleet: the Context service's projection (`ConsumerRuntime` per subject -> `Projector` -> one Ladybug
  transaction per batch, batched UNWIND MERGE, ledger, version, `context.updated` announced);
- naive: the seed report's proposed fix, `fetch(batch=1)` then one transaction per event, per subject.
Each rate is events / (time from the first fetch to the last event committed and acked). Events are a
story's realistic life: created, transitions, plan approved, decisions, tasks derived, a council's
deliberation, a dispatch.

GetContext: the Context service as its own process (`fleet serve context`, real uvicorn) with a
story of 50 tasks and 200 decisions; an httpx client asks sequentially. Cached: the same request again;
uncached: every request with another token budget, so every one misses the cache and is assembled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig

from bench.harness import BenchContext, median, percentile
from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.consumer import ConsumerRuntime
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.context.app.projector import Projector
from swe_fleet.context.consumers import PROJECTION_BATCH_SIZE, consumer_specs
from swe_fleet.context.domain.projections import project
from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.valkey_server import EmbeddedValkey, find_cache_server
from swe_fleet.events import payloads as p
from swe_fleet.events import subjects as s
from swe_fleet.events.envelope import Envelope, decode_event, encode_event
from swe_fleet.events.payloads import Payload
from swe_fleet.graph.ladybug_store import LadybugGraphStore
from swe_fleet.host.runner import tune_garbage_collector
from swe_fleet.security.api_auth import ensure_local_tokens
from swe_fleet.security.client_token import bearer_headers
from swe_fleet.security.secret_files import read_secret
from swe_fleet.settings import FleetSettings

RAW_BATCH = PROJECTION_BATCH_SIZE


def story_events(index: int) -> list[tuple[str, p.Payload]]:
    """Ten events of one story's life."""
    story, plan = f"US-{index}", f"plan-{index}"
    tasks = [f"T-{index}-{n}" for n in range(3)]
    return [
        (
            s.STORY_CREATED,
            p.StoryCreated(
                story_id=story,
                title=f"Story {index}",
                brief="As a user I want it.",
                acceptance_criteria=["it works", "it is fast"],
                owner="po",
                created_by="po",
            ),
        ),
        (
            s.STORY_TRANSITIONED,
            p.StoryTransitioned(
                story_id=story, from_state="DRAFT", to_state="PO_REVIEW", transitioned_by="po"
            ),
        ),
        (
            s.STORY_TRANSITIONED,
            p.StoryTransitioned(
                story_id=story, from_state="PO_REVIEW", to_state="READY_FOR_PLANNING", transitioned_by="po"
            ),
        ),
        (
            s.PLAN_APPROVED,
            p.PlanApproved(
                story_id=story,
                plan_id=plan,
                approved_by="po",
                roles=["DEV", "QA"],
                description="Build it in three steps",
                acceptance_criteria=["works"],
            ),
        ),
        (
            s.DECISION_APPROVED,
            p.DecisionApproved(
                decision_id=f"D-{index}-a",
                story_id=story,
                title="Use JWT",
                rationale="stateless sessions",
                decided_by="architect",
            ),
        ),
        (
            s.DECISION_APPROVED,
            p.DecisionApproved(
                decision_id=f"D-{index}-b",
                story_id=story,
                task_id=tasks[0],
                title="Form first",
                rationale="smallest step",
                decided_by="architect",
            ),
        ),
        (
            s.TASKS_DERIVED,
            p.TasksDerived(
                story_id=story,
                plan_id=plan,
                attempts=1,
                tasks=[
                    p.TaskSpec(
                        task_id=task,
                        title=f"Task {n}",
                        description="Do the thing",
                        role="DEV",
                        estimate_hours=2,
                        depends_on=tasks[:n][-1:],
                    )
                    for n, task in enumerate(tasks)
                ],
            ),
        ),
        (
            s.DELIBERATION_COMPLETED,
            p.DeliberationCompleted(
                deliberation_id=f"DL-{index}",
                story_id=story,
                plan_id=plan,
                task_id=tasks[0],
                role="DEV",
                rounds=1,
                agents=["dev-1", "dev-2"],
                proposals=[
                    p.ProposalRecord(proposal_id=f"PR-{index}-1", agent_id="dev-1", content="proposal one"),
                    p.ProposalRecord(proposal_id=f"PR-{index}-2", agent_id="dev-2", content="proposal two"),
                ],
                scores=[p.ScoreRecord(proposal_id=f"PR-{index}-1", total=8.0)],
                winner_proposal_id=f"PR-{index}-1",
                winner_agent_id="dev-1",
            ),
        ),
        (s.TASK_DISPATCHED, p.TaskDispatched(task_id=tasks[0], story_id=story, role="DEV", agent_id="dev-1")),
        (
            s.STORY_TRANSITIONED,
            p.StoryTransitioned(
                story_id=story, from_state="READY_FOR_PLANNING", to_state="PLANNED", transitioned_by="po"
            ),
        ),
    ]


async def publish_all(js, events: list[tuple[str, p.Payload]]) -> None:
    """Publish fast (async publishes, acks awaited in windows), each under its event id."""
    window = []
    for subject, payload in events:
        envelope = Envelope.new(subject, payload, producer="bench")
        window.append(
            await js.publish_async(
                subject, encode_event(envelope), headers={"Nats-Msg-Id": envelope.event_id}
            )
        )
        if len(window) >= 500:
            await asyncio.wait_for(asyncio.gather(*window), 60)
            window.clear()
    await asyncio.wait_for(asyncio.gather(*window), 60)


SUBJECTS = sorted({subject for subject, _ in story_events(0)})


def _stream(subject: str) -> str:
    return "PLANNING_EVENTS" if subject.startswith("planning.") else "ORCHESTRATOR_EVENTS"


async def _one_durable_per_subject(js, prefix: str) -> list:
    """A bound pull subscription on a fresh durable for each benchmark subject."""
    subscriptions = []
    for subject in SUBJECTS:
        durable = f"{prefix}-{subject.replace('.', '-')}"
        await js.add_consumer(
            _stream(subject),
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                filter_subject=subject,
                max_ack_pending=20_000,
            ),
        )
        subscriptions.append(await js.pull_subscribe_bind(durable, stream=_stream(subject)))
    return subscriptions


async def consume_raw(nc, js, n: int, tag: str) -> float:
    subscriptions = await _one_durable_per_subject(js, f"raw-{tag}")
    seen = 0
    done = asyncio.Event()

    async def drain(subscription) -> None:
        nonlocal seen
        while not done.is_set():
            try:
                messages = await subscription.fetch(RAW_BATCH, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            for msg in messages:
                await msg.ack()
            await nc.flush()
            seen += len(messages)
            if seen >= n:
                done.set()

    started = time.perf_counter()
    tasks = [asyncio.create_task(drain(subscription)) for subscription in subscriptions]
    await done.wait()
    elapsed = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for subscription in subscriptions:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
    return n / elapsed


async def consume_fleet(nc, js, n: int, graph: Path, tag: str) -> tuple[float, int]:
    store = LadybugGraphStore(f"ladybug://{graph}")
    await store.start()
    publisher = EventPublisher(js, "bench")

    async def announce(update, key, at) -> None:
        from swe_fleet.events.envelope import deterministic_event_id

        await publisher.publish(s.CONTEXT_UPDATED, update, event_id=deterministic_event_id(key, at))

    projector = Projector(store, announce)
    runtimes = []
    for spec in consumer_specs():
        if spec.filter_subject in SUBJECTS:
            spec = ConsumerSpec(**{**spec.__dict__, "durable": f"{spec.durable}-{tag}"})
            runtimes.append(
                ConsumerRuntime(nc, spec, projector.handle, DeadLetterWriter(publisher), payload_type=Payload)
            )
    started = time.perf_counter()
    tasks = [asyncio.create_task(runtime.run()) for runtime in runtimes]
    while sum(runtime.stats.processed for runtime in runtimes) < n:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    for runtime in runtimes:
        runtime.stop()
    await asyncio.gather(*tasks)
    rows = await store.read("MATCH (e:ProjectedEvent) RETURN count(e) AS n")
    await store.close()
    return n / elapsed, int(rows[0]["n"])


async def consume_naive(nc, js, n: int, graph: Path, tag: str) -> float:
    """The seed report's fix: per subject, fetch ONE message, write it in its own transaction, ack."""
    store = LadybugGraphStore(f"ladybug://{graph}")
    await store.start()
    subscriptions = await _one_durable_per_subject(js, f"naive-{tag}")
    seen = 0
    done = asyncio.Event()

    async def loop(subscription) -> None:
        nonlocal seen
        while not done.is_set():
            try:
                [msg] = await subscription.fetch(1, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            envelope = decode_event(msg.subject, msg.data)
            await store.apply([project(envelope)])
            await msg.ack()
            seen += 1
            if seen >= n:
                done.set()

    started = time.perf_counter()
    tasks = [asyncio.create_task(loop(subscription)) for subscription in subscriptions]
    await done.wait()
    elapsed = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await store.close()
    return n / elapsed


async def store_apply(events: list[tuple[str, p.Payload]], graph: Path) -> float:
    """The embedded store's own limit: the same events, projected in memory beforehand, applied
    synchronously in batches of the projection's size, one transaction each (no NATS, no runtime).
    Batches hold one subject each, as the projection's (one consumer per subject) do."""
    store = LadybugGraphStore(f"ladybug://{graph}")
    await store.start()
    by_subject = sorted(events, key=lambda event: SUBJECTS.index(event[0]))
    batches = [project(Envelope.new(subject, payload, producer="bench")) for subject, payload in by_subject]
    started = time.perf_counter()
    for start in range(0, len(batches), PROJECTION_BATCH_SIZE):
        await store.apply(batches[start : start + PROJECTION_BATCH_SIZE])
    elapsed = time.perf_counter() - started
    await store.close()
    return len(batches) / elapsed


# ------------------------------------------------------------------ GetContext latency


def big_story() -> list[tuple[str, p.Payload]]:
    story, plan = "US-BIG", "plan-big"
    tasks = [f"T-{n:02d}" for n in range(50)]
    roles = ["DEV", "QA", "DEVOPS", "DATA", "ARCHITECT"]
    events: list[tuple[str, p.Payload]] = [
        (
            s.STORY_CREATED,
            p.StoryCreated(
                story_id=story,
                title="Checkout rewrite",
                owner="po",
                created_by="po",
                state="IN_PROGRESS",
                brief="Rewrite the checkout flow. " * 10,
                acceptance_criteria=[f"criterion {n}" for n in range(8)],
            ),
        ),
        (
            s.PLAN_APPROVED,
            p.PlanApproved(
                story_id=story,
                plan_id=plan,
                approved_by="po",
                roles=roles,
                description="A staged rewrite. " * 20,
                acceptance_criteria=["works"],
                technical_notes="Feature flags throughout. " * 10,
            ),
        ),
        (
            s.TASKS_DERIVED,
            p.TasksDerived(
                story_id=story,
                plan_id=plan,
                attempts=1,
                tasks=[
                    p.TaskSpec(
                        task_id=task,
                        title=f"Step {n} of the checkout rewrite",
                        role=roles[n % 5],
                        description="Change the module and its tests. " * 4,
                        estimate_hours=3,
                        depends_on=tasks[max(0, n - 2) : n],
                    )
                    for n, task in enumerate(tasks)
                ],
            ),
        ),
    ]
    for n in range(200):
        events.append(
            (
                s.DECISION_APPROVED,
                p.DecisionApproved(
                    decision_id=f"D-{n:03d}",
                    story_id=story,
                    task_id=tasks[n % 50],
                    title=f"Decision {n} on the design",
                    rationale="Chosen after comparing the alternatives on cost and risk. " * 2,
                    decided_by="architect",
                ),
            )
        )
    for n in range(10):
        events.append(
            (
                s.DELIBERATION_COMPLETED,
                p.DeliberationCompleted(
                    deliberation_id=f"DL-{n}",
                    story_id=story,
                    plan_id=plan,
                    task_id=tasks[n],
                    role=roles[n % 5],
                    rounds=2,
                    agents=["a1", "a2", "a3"],
                    proposals=[
                        p.ProposalRecord(
                            proposal_id=f"PR-{n}-{k}", agent_id=f"a{k}", content="A proposal. " * 30
                        )
                        for k in (1, 2, 3)
                    ],
                    scores=[
                        p.ScoreRecord(
                            proposal_id=f"PR-{n}-1",
                            total=8.5,
                            criteria=[p.CriterionScore(criterion="correctness", score=9, reason="sound")],
                        )
                    ],
                    winner_proposal_id=f"PR-{n}-1",
                    winner_agent_id="a1",
                ),
            )
        )
    return events


async def get_context_latency(ctx: BenchContext, nats_url: str, js, requests: int) -> dict[str, Any]:
    await publish_all(js, big_story())
    valkey = None
    if find_cache_server() is not None:
        valkey = EmbeddedValkey(ctx.scratch / "valkey", port=free_port()).start()
    port = free_port()
    # The API wants a bearer token (ADR 0800): the embedded fleet's own issuer, under the data dir.
    token = read_secret(ensure_local_tokens(FleetSettings(data_dir=ctx.scratch / "context-service")))
    env = {
        **os.environ,
        "FLEET_NATS_URL": nats_url,
        "FLEET_DATA_DIR": str(ctx.scratch / "context-service"),
        "FLEET_HTTP_PORT": str(port),
        "FLEET_VALKEY_URL": valkey.url if valkey else "",
        "FLEET_LLM_URL": "",
        "FLEET_LOG_LEVEL": "WARNING",
        # The latency loop sends hundreds of requests as one identity: no rate limit (ADR 0800's is 600/min).
        "FLEET_API_RATE_PER_MINUTE": "10000000",
        "FLEET_API_RATE_BURST": "1000000",
    }
    service = subprocess.Popen(  # noqa: ASYNC220 - started once, outside the timed part
        [sys.executable, "-m", "swe_fleet.cli", "serve", "context"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert service.stdout is not None
        line = await asyncio.to_thread(service.stdout.readline)
        if line.strip() != "ready":
            raise RuntimeError("the context service did not start")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30, headers=bearer_headers(token)
        ) as client:
            path = "/v1/context/stories/US-BIG"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                summary = (await client.get("/v1/graph/stories/US-BIG")).json()
                if (
                    summary.get("decisions") == 200
                    and summary.get("tasks") == 50
                    and summary.get("deliberations") == 10
                ):
                    break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError("the big story did not reach the graph")
            params = {"role": "DEV", "phase": "IN_PROGRESS", "task_id": "T-07", "token_budget": 4000}

            async def timed(query: dict[str, Any]) -> tuple[float, dict[str, Any]]:
                started = time.perf_counter()
                response = await client.get(path, params=query)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                return elapsed * 1000, response.json()

            for _ in range(20):  # warm-up: connections, code paths, the graph's buffer pool
                await timed({**params, "token_budget": 100 + _})
            uncached, cached = [], []
            pack: dict[str, Any] = {}
            for n in range(requests):
                ms, pack = await timed({**params, "token_budget": 5000 + n})  # a new key: a miss
                assert not pack["cached"]
                uncached.append(ms)
            await timed(params)
            for _ in range(requests):
                ms, hit = await timed(params)
                if valkey is not None:
                    assert hit["cached"]
                cached.append(ms)
    finally:
        service.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.wait(15)
        if service.poll() is None:
            service.kill()
        if valkey is not None:
            valkey.stop()
    return {
        "requests": requests,
        "cache": "valkey (embedded)" if valkey else "none",
        "story_tasks": 50,
        "story_decisions": 200,
        "uncached_p50_ms": round(percentile(uncached, 50), 2),
        "uncached_p99_ms": round(percentile(uncached, 99), 2),
        "cached_p50_ms": round(percentile(cached, 50), 2),
        "cached_p99_ms": round(percentile(cached, 99), 2),
        "uncached_pack_tokens": pack.get("token_count"),
        "uncached_pack_sections": len(pack.get("sections_included", [])),
    }


async def run(ctx: BenchContext) -> dict[str, Any]:
    tune_garbage_collector()  # as in a service process, for every contender alike
    rounds = 1 if ctx.quick else 3
    stories = 100 if ctx.quick else 600
    naive_events = 300 if ctx.quick else 1500
    requests = 50 if ctx.quick else 300
    server = ctx.nats("context")
    nc = await connect(server.url, "bench", wait_seconds=5)
    js = nc.jetstream()
    await ensure_streams(js)
    events = [event for index in range(stories) for event in story_events(index)]
    await publish_all(js, events)
    n = len(events)
    raw, fleet, naive, applied, own = [], [], [], [], []
    for round_ in range(rounds):
        # Each contender reads the same n events from the start of the streams: same work, side by side.
        raw.append(await consume_raw(nc, js, n, f"r{round_}"))
        rate, count = await consume_fleet(nc, js, n, ctx.scratch / f"graph-fleet-{round_}.lbug", f"r{round_}")
        fleet.append(rate)
        applied.append(count)
        own.append(await store_apply(events, ctx.scratch / f"graph-store-{round_}.lbug"))
        naive.append(
            await consume_naive(
                nc, js, naive_events, ctx.scratch / f"graph-naive-{round_}.lbug", f"r{round_}"
            )
        )
    latency = await get_context_latency(ctx, server.url, js, requests)
    await nc.close()
    result: dict[str, Any] = {
        "rounds": rounds,
        "events": n,
        "events_per_story": len(story_events(0)),
        "naive_events": naive_events,
        "batch_size": PROJECTION_BATCH_SIZE,
        "raw_consume_ack_per_s": round(median(raw)),
        "projection_per_s": round(median(fleet)),
        "naive_projection_per_s": round(median(naive)),
        "store_apply_per_s": round(median(own)),
        "events_in_graph": min(applied),
        **{f"get_context_{key}": value for key, value in latency.items()},
    }
    result["projection_ratio_to_raw"] = round(result["projection_per_s"] / result["raw_consume_ack_per_s"], 3)
    result["projection_ratio_to_store"] = round(result["projection_per_s"] / result["store_apply_per_s"], 3)
    result["projection_ratio_to_naive"] = round(
        result["projection_per_s"] / result["naive_projection_per_s"], 1
    )
    result["targets"] = {
        "projection_ratio_to_raw>=0.35": result["projection_ratio_to_raw"] >= 0.35,
        "projection_ratio_to_naive>=10": result["projection_ratio_to_naive"] >= 10,
        "projection_ratio_to_store>=0.8": result["projection_ratio_to_store"] >= 0.8,
        "get_context_cached_p50<=10ms": result["get_context_cached_p50_ms"] <= 10,
        "get_context_uncached_p50<=50ms": result["get_context_uncached_p50_ms"] <= 50,
    }
    return result


def render(r: dict[str, Any]) -> str:
    met = r.get("targets", {})

    def mark(key: str) -> str:
        return "met" if met.get(key) else "NOT met"

    intro = (
        f"Projection: {r['events']} events ({r['events_per_story']} per story: created, transitions, plan "
        "approved, decisions, tasks derived, deliberation, dispatch) pre-published on one fresh nats-server, "
        f"drained by each contender from the start; median of {r['rounds']} alternating rounds; the naive "
        f"projector drains {r['naive_events']} of them. Fleet batch size {r['batch_size']}; graph: embedded "
        "Ladybug file."
    )
    latency = (
        "GetContext through the HTTP API (service process, real uvicorn, httpx client, sequential), story "
        f"with {r['get_context_story_tasks']} tasks and {r['get_context_story_decisions']} decisions, "
        f"role DEV with a task, {r['get_context_requests']} requests each; cache: {r['get_context_cache']}; "
        f"uncached packs ~{r['get_context_uncached_pack_tokens']} tokens (estimate)."
    )
    fleet_row = (
        "| fleet projection (runtime + one transaction per batch + `context.updated`) | "
        f"{r['projection_per_s']:,} | {r['projection_ratio_to_raw']:.2f} of raw | "
        f">= 0.35: {mark('projection_ratio_to_raw>=0.35')} |"
    )
    store_row = (
        "| the store's own limit: the same events projected beforehand, `apply` in batches of "
        f"{r['batch_size']}, no NATS | {r.get('store_apply_per_s', 0):,} | fleet = "
        f"{r.get('projection_ratio_to_store', 0):.2f} of it | "
        f">= 0.8: {mark('projection_ratio_to_store>=0.8')} |"
    )
    naive_row = (
        f"| naive: `fetch(batch=1)`, one transaction per event | {r['naive_projection_per_s']:,} | "
        f"fleet = {r['projection_ratio_to_naive']:.1f}x | >= 10x: {mark('projection_ratio_to_naive>=10')} |"
    )
    return "\n".join(
        [
            "## Context (issue 3)",
            "",
            intro,
            "",
            "| contender | events/s | ratio | target |",
            "|---|---:|---:|---|",
            f"| raw nats-py pull `fetch({r['batch_size']})` + `ack`, one consumer per subject | "
            f"{r['raw_consume_ack_per_s']:,} | 1.00 | |",
            fleet_row,
            store_row,
            naive_row,
            "",
            latency,
            "",
            "| request | p50 ms | p99 ms | target |",
            "|---|---:|---:|---|",
            f"| cached | {r['get_context_cached_p50_ms']} | {r['get_context_cached_p99_ms']} | "
            f"p50 <= 10 ms: {mark('get_context_cached_p50<=10ms')} |",
            f"| uncached (graph read + assembly) | {r['get_context_uncached_p50_ms']} | "
            f"{r['get_context_uncached_p99_ms']} | p50 <= 50 ms: {mark('get_context_uncached_p50<=50ms')} |",
        ]
    )
