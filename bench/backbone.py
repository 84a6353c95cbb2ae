"""Backbone benchmark: raw nats-py JetStream publish and pull-consume+ack, and the fleet's layers over them.

Measured side by side on one fresh nats-server, alternating raw and fleet runs, median of rounds:
- publish: raw `js.publish` (awaited ack) vs `EventPublisher.publish` (envelope, msg-id, retry policy);
- consume: raw `fetch(batch)` + `ack` loop vs `ConsumerRuntime` with a no-op handler (which also decodes
  and validates every event against its payload model, keeps leases and flushes acks per batch).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig

from bench.harness import BenchContext, median
from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.consumer import ConsumerRuntime
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events.envelope import encode_event
from swe_fleet.events.payloads import DecisionApproved, Payload

SUBJECT = "planning.decision.approved"
BATCH = 100


def _payload(n: int) -> DecisionApproved:
    return DecisionApproved(
        decision_id=f"D-{n}",
        story_id="US-bench",
        title=f"decision {n}",
        rationale="benchmark",
        decided_by="bench",
    )


async def publish_raw(js, n: int) -> float:
    publisher = EventPublisher(js, "bench")
    bodies = [encode_event(publisher.envelope(SUBJECT, _payload(i))) for i in range(n)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    for body in bodies:
        await js.publish(SUBJECT, body)
    return n / (loop.time() - started)


async def publish_fleet(js, n: int) -> float:
    publisher = EventPublisher(js, "bench")
    payloads = [_payload(i) for i in range(n)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    for payload in payloads:
        await publisher.publish(SUBJECT, payload)
    return n / (loop.time() - started)


async def fill(js, n: int) -> None:
    """Publish n events fast (async publishes, acks awaited in windows)."""
    publisher = EventPublisher(js, "bench")
    window = []
    for i in range(n):
        envelope = publisher.envelope(SUBJECT, _payload(i))
        window.append(
            await js.publish_async(
                SUBJECT, encode_event(envelope), headers={"Nats-Msg-Id": envelope.event_id}
            )
        )
        if len(window) >= 500:
            await asyncio.wait_for(asyncio.gather(*window), 30)
            window.clear()
    await asyncio.wait_for(asyncio.gather(*window), 30)


async def consume_raw(nc, js, n: int, durable: str) -> float:
    await js.add_consumer(
        "PLANNING_EVENTS",
        ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject=SUBJECT,
            max_ack_pending=10_000,
        ),
    )
    subscription = await js.pull_subscribe_bind(durable, stream="PLANNING_EVENTS")
    loop = asyncio.get_running_loop()
    started, seen = loop.time(), 0
    while seen < n:
        with contextlib.suppress(nats.errors.TimeoutError):
            for msg in await subscription.fetch(BATCH, timeout=1):
                await msg.ack()
                seen += 1
    await nc.flush()
    elapsed = loop.time() - started
    await subscription.unsubscribe()
    return n / elapsed


async def consume_runtime(nc, js, n: int, durable: str) -> float:
    spec = ConsumerSpec(
        durable=durable,
        stream="PLANNING_EVENTS",
        filter_subject=SUBJECT,
        batch_size=BATCH,
        max_ack_pending=10_000,
        fetch_wait_seconds=1.0,
    )

    async def no_op(deliveries) -> None:
        return None

    runtime = ConsumerRuntime(
        nc, spec, no_op, DeadLetterWriter(EventPublisher(js, "bench")), payload_type=Payload
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.create_task(runtime.run())
    while runtime.stats.processed < n:
        await asyncio.sleep(0.002)
    elapsed = loop.time() - started
    runtime.stop()
    await task
    return n / elapsed


async def run(ctx: BenchContext) -> dict[str, Any]:
    rounds = 1 if ctx.quick else 3
    n_publish = 500 if ctx.quick else 4000
    n_consume = 2000 if ctx.quick else 20000
    server = ctx.nats("backbone")
    nc = await connect(server.url, "bench", wait_seconds=5)
    js = nc.jetstream()
    await ensure_streams(js)
    raw_pub, fleet_pub, raw_con, fleet_con = [], [], [], []
    for _ in range(rounds):
        raw_pub.append(await publish_raw(js, n_publish))
        fleet_pub.append(await publish_fleet(js, n_publish))
    await js.purge_stream("PLANNING_EVENTS")
    await fill(js, n_consume)
    for round_ in range(rounds):
        # Each consumer reads the same n events from the start of the stream: same work, side by side.
        raw_con.append(await consume_raw(nc, js, n_consume, f"raw-{round_}"))
        fleet_con.append(await consume_runtime(nc, js, n_consume, f"fleet-{round_}"))
    await nc.close()
    result = {
        "rounds": rounds,
        "events_published_per_round": n_publish,
        "events_consumed_per_round": n_consume,
        "batch_size": BATCH,
        "raw_publish_per_s": round(median(raw_pub)),
        "fleet_publish_per_s": round(median(fleet_pub)),
        "raw_consume_ack_per_s": round(median(raw_con)),
        "runtime_noop_per_s": round(median(fleet_con)),
    }
    result["publish_ratio_to_raw"] = round(result["fleet_publish_per_s"] / result["raw_publish_per_s"], 3)
    result["runtime_ratio_to_raw"] = round(result["runtime_noop_per_s"] / result["raw_consume_ack_per_s"], 3)
    return result


def render(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            "## Backbone (issue 2)",
            "",
            f"One fresh nats-server, median of {r['rounds']} alternating rounds; "
            f"{r['events_published_per_round']} publishes and "
            f"{r['events_consumed_per_round']} consumed events per round, fetch batch {r['batch_size']}.",
            "",
            "| measure | events/s | ratio to raw |",
            "|---|---:|---:|",
            f"| raw nats-py `js.publish` (ack awaited) | {r['raw_publish_per_s']:,} | 1.00 |",
            f"| `EventPublisher.publish` (envelope, msg-id, retries) | {r['fleet_publish_per_s']:,} | "
            f"{r['publish_ratio_to_raw']:.2f} |",
            f"| raw nats-py pull `fetch` + `ack` | {r['raw_consume_ack_per_s']:,} | 1.00 |",
            f"| `ConsumerRuntime`, no-op handler (decode + validate + ack) | {r['runtime_noop_per_s']:,} | "
            f"{r['runtime_ratio_to_raw']:.2f} |",
        ]
    )
