"""The consumer runtime in-process against a real nats-server: batches, poison, failing handlers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from swe_fleet.backbone.consumer import ConsumerRuntime, Delivery
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter, list_dead_letters
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.errors import TransientError
from swe_fleet.events.payloads import DecisionApproved, Payload

SUBJECT = "planning.decision.approved"


def decision(n: int) -> DecisionApproved:
    return DecisionApproved(
        decision_id=f"D-{n}", story_id="US-1", title=f"decision {n}", rationale="because", decided_by="po"
    )


def spec(**overrides) -> ConsumerSpec:
    settings = dict(
        durable="test-consumer",
        stream="PLANNING_EVENTS",
        filter_subject=SUBJECT,
        ack_wait_seconds=2.0,
        max_deliver=10,
        failure_deliveries=3,
        retry_delays_seconds=(0.1,),
        batch_size=50,
        fetch_wait_seconds=0.2,
    )
    settings.update(overrides)
    return ConsumerSpec(**settings)


async def run_until(runtime: ConsumerRuntime, condition, timeout: float = 20.0) -> None:
    task = asyncio.create_task(runtime.run())
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
    finally:
        runtime.stop()
        await asyncio.wait_for(task, 10)


async def test_batches_reach_the_handler_validated_and_are_acked(nc, js) -> None:
    publisher = EventPublisher(js, "test")
    for n in range(120):
        await publisher.publish(SUBJECT, decision(n))
    seen: list[str] = []
    batch_sizes: list[int] = []

    async def handle(deliveries: Sequence[Delivery]) -> None:
        batch_sizes.append(len(deliveries))
        seen.extend(d.payload.decision_id for d in deliveries)

    runtime = ConsumerRuntime(nc, spec(), handle, DeadLetterWriter(publisher), payload_type=Payload)
    await run_until(runtime, lambda: len(seen) >= 120)

    assert sorted(seen) == sorted(f"D-{n}" for n in range(120))
    assert max(batch_sizes) > 1
    info = await js.consumer_info("PLANNING_EVENTS", "test-consumer")
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert info.config.max_deliver == 10 and info.config.max_ack_pending == 1000
    assert info.config.ack_wait == 2.0 and info.config.backoff == [2.0, 4.0, 8.0, 16.0]


async def test_poison_goes_to_dead_letters_with_its_reason_and_the_rest_flow(nc, js) -> None:
    publisher = EventPublisher(js, "test")
    await publisher.publish(SUBJECT, decision(1))
    await js.publish(SUBJECT, b"{not json", headers={"X-Origin": "fuzz"})
    await js.publish(SUBJECT, json.dumps({"decision_id": "D-x", "story_id": 5}).encode())
    await js.publish(
        SUBJECT,
        json.dumps(
            {
                "decision_id": "D-bare",
                "story_id": "US-1",
                "title": "by hand",
                "rationale": "ops",
                "decided_by": "operator",
            }
        ).encode(),
    )
    await publisher.publish(SUBJECT, decision(2))
    seen: list[str] = []

    async def handle(deliveries: Sequence[Delivery]) -> None:
        seen.extend(d.payload.decision_id for d in deliveries)

    runtime = ConsumerRuntime(nc, spec(), handle, DeadLetterWriter(publisher), payload_type=Payload)
    await run_until(runtime, lambda: len(seen) >= 3 and runtime.stats.dead_lettered >= 2)

    assert sorted(seen) == ["D-1", "D-2", "D-bare"]
    letters = await list_dead_letters(js)
    by_reason = {letter.reason: letter for letter in letters}
    assert set(by_reason) == {"malformed_json", "invalid_payload"}
    assert by_reason["malformed_json"].data == b"{not json"
    assert by_reason["malformed_json"].original_headers == {"X-Origin": "fuzz"}
    assert by_reason["malformed_json"].original_subject == SUBJECT
    assert by_reason["malformed_json"].original_seq == 2
    assert "story_id" in by_reason["invalid_payload"].detail
    assert "decided_by" in by_reason["invalid_payload"].detail
    info = await js.consumer_info("PLANNING_EVENTS", "test-consumer")
    assert info.num_ack_pending == 0


async def test_a_handler_that_keeps_failing_dead_letters_only_its_message(nc, js) -> None:
    publisher = EventPublisher(js, "test")
    for n in range(10):
        await publisher.publish(SUBJECT, decision(n))
    applied: list[str] = []
    attempts: dict[str, int] = {}

    async def handle(deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            attempts[d.payload.decision_id] = attempts.get(d.payload.decision_id, 0) + 1
            if d.payload.decision_id == "D-4":
                raise ValueError("cannot apply D-4")
        applied.extend(d.payload.decision_id for d in deliveries)

    runtime = ConsumerRuntime(nc, spec(), handle, DeadLetterWriter(publisher), payload_type=Payload)
    await run_until(runtime, lambda: runtime.stats.dead_lettered >= 1 and len(applied) >= 9)

    assert sorted(applied) == sorted(f"D-{n}" for n in range(10) if n != 4)
    letters = await list_dead_letters(js)
    assert len(letters) == 1
    assert letters[0].reason == "handler_failed" and "cannot apply D-4" in letters[0].detail
    assert letters[0].deliveries == 3 and letters[0].consumer == "test-consumer"


async def test_a_dependency_outage_is_waited_out_without_dead_lettering(nc, js) -> None:
    publisher = EventPublisher(js, "test")
    for n in range(5):
        await publisher.publish(SUBJECT, decision(n))
    calls = 0
    applied: list[str] = []

    async def handle(deliveries: Sequence[Delivery]) -> None:
        nonlocal calls
        calls += 1
        if calls <= 8:  # more failures than failure_deliveries allows
            raise TransientError("graph store unavailable")
        applied.extend(d.payload.decision_id for d in deliveries)

    runtime = ConsumerRuntime(
        nc, spec(), handle, DeadLetterWriter(publisher), transient_backoff_max=0.1, payload_type=Payload
    )
    await run_until(runtime, lambda: len(applied) >= 5)

    assert runtime.stats.transient_retries == 8
    assert runtime.stats.dead_lettered == 0
    assert sorted(applied) == [f"D-{n}" for n in range(5)]
    assert (await js.stream_info("DEAD_LETTERS")).state.messages == 0


async def test_long_handlers_keep_their_lease_with_in_progress_acks(nc, js) -> None:
    publisher = EventPublisher(js, "test")
    await publisher.publish(SUBJECT, decision(1))
    deliveries_seen: list[int] = []

    async def slow(deliveries: Sequence[Delivery]) -> None:
        deliveries_seen.extend(d.num_delivered for d in deliveries)
        await asyncio.sleep(5)  # 2.5 x ack_wait

    runtime = ConsumerRuntime(nc, spec(), slow, DeadLetterWriter(publisher), payload_type=Payload)
    await run_until(runtime, lambda: runtime.stats.processed >= 1)

    assert deliveries_seen == [1]  # never redelivered while the handler ran


async def test_stop_hands_a_stuck_batch_back_after_the_drain_grace(nc, js) -> None:
    publisher = EventPublisher(js, "test")
    await publisher.publish(SUBJECT, decision(1))
    started = asyncio.Event()

    async def stuck(deliveries: Sequence[Delivery]) -> None:
        started.set()
        await asyncio.sleep(3600)  # an LLM call that will not come back in time

    first = ConsumerRuntime(
        nc,
        spec(drain_grace_seconds=0.5, ack_wait_seconds=30.0),
        stuck,
        DeadLetterWriter(publisher),
        payload_type=Payload,
    )
    running = asyncio.create_task(first.run())
    await asyncio.wait_for(started.wait(), 10)
    first.stop()
    await asyncio.wait_for(running, 10)  # returns after the grace, not after the hour

    redelivered: list[int] = []

    async def record(deliveries: Sequence[Delivery]) -> None:
        redelivered.extend(d.num_delivered for d in deliveries)

    second = ConsumerRuntime(
        nc, spec(ack_wait_seconds=30.0), record, DeadLetterWriter(publisher), payload_type=Payload
    )
    await run_until(second, lambda: redelivered, timeout=10)  # at once: handed back, not left to ack_wait
    assert redelivered == [2]


async def test_sentinels_dead_letter_subjects_no_service_consumes(nc, js) -> None:
    from swe_fleet.backbone.sentinel import build_sentinels

    await js.publish("planning.bogus.thing", b'{"x": 1}')
    await js.publish("agent.cmd.unknown", b"{}")
    await EventPublisher(js, "test").publish(SUBJECT, decision(1))
    sentinels = build_sentinels(nc)
    tasks = [asyncio.create_task(runtime.run()) for runtime in sentinels]
    try:
        async with asyncio.timeout(20):
            while sum(runtime.stats.dead_lettered for runtime in sentinels) < 2:
                await asyncio.sleep(0.05)
    finally:
        for runtime in sentinels:
            runtime.stop()
        await asyncio.gather(*tasks)
    letters = {letter.original_subject: letter for letter in await list_dead_letters(js)}
    assert set(letters) == {"planning.bogus.thing", "agent.cmd.unknown"}
    assert {letter.reason for letter in letters.values()} == {"unknown_subject"}
    assert sum(runtime.stats.processed for runtime in sentinels) == 1  # the valid event, acked


async def test_a_consumer_started_before_its_stream_exists_provisions_it_and_runs(nc) -> None:
    js = nc.jetstream()  # no streams provisioned: a service started on an empty server
    seen: list[str] = []

    async def handle(deliveries: Sequence[Delivery]) -> None:
        seen.extend(d.payload.decision_id for d in deliveries)

    runtime = ConsumerRuntime(
        nc, spec(), handle, DeadLetterWriter(EventPublisher(js, "test")), payload_type=Payload
    )
    task = asyncio.create_task(runtime.run())
    async with asyncio.timeout(20):
        while True:
            try:
                await js.stream_info("PLANNING_EVENTS")
                break
            except Exception:
                await asyncio.sleep(0.05)
    await EventPublisher(js, "test").publish(SUBJECT, decision(7))
    async with asyncio.timeout(20):
        while not seen:
            await asyncio.sleep(0.05)
    runtime.stop()
    await task
    assert seen == ["D-7"]
