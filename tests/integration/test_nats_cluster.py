"""A real three-node JetStream cluster (ADR 0504): streams at three replicas, durables inheriting them,
replicas changed in place or refused clearly, and publish deduplication across a stream leader's loss."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import nats.errors
import pytest

from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.provisioning import (
    Change,
    ReplicasUnchangeable,
    ensure_consumer,
    ensure_stream,
    ensure_streams,
)
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.nats_server import EmbeddedNatsCluster, NodePorts
from swe_fleet.events import streams
from swe_fleet.events.streams import STREAMS_BY_NAME
from swe_fleet.verify.backbone import check_streams
from swe_fleet.verify.report import VerifyReport
from swe_fleet.workspace.adapters.result_ledger import KvResultLedger

pytestmark = pytest.mark.slow


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[EmbeddedNatsCluster]:
    ports = [NodePorts(free_port(), free_port(), free_port()) for _ in range(3)]
    with EmbeddedNatsCluster(tmp_path / "cluster", ports) as cluster:
        yield cluster


async def test_streams_at_three_replicas_and_durables_inherit_them(nats_cluster: EmbeddedNatsCluster) -> None:
    nc = await connect(nats_cluster.url, "test-cluster", wait_seconds=10)
    try:
        js = nc.jetstream()
        created = await ensure_streams(js, replicas=3)
        assert {p.change for p in created} == {Change.CREATED}
        info = await js.stream_info(streams.PLANNING_EVENTS)
        assert info.config.num_replicas == 3
        assert info.cluster is not None and info.cluster.leader in nats_cluster.names
        assert len(info.cluster.replicas or []) == 2  # the two followers
        spec = ConsumerSpec("test-cluster-durable", streams.PLANNING_EVENTS, "planning.>")
        await ensure_consumer(js, spec)
        consumer = await js.consumer_info(streams.PLANNING_EVENTS, "test-cluster-durable")
        assert consumer.cluster is not None and len(consumer.cluster.replicas or []) == 2
        # Again: nothing to change; None keeps what is there.
        assert {p.change for p in await ensure_streams(js, replicas=3)} == {Change.UNCHANGED}
        assert {p.change for p in await ensure_streams(js, replicas=None)} == {Change.UNCHANGED}
        leader = nats_cluster.index_of(info.cluster.leader)
        assert nats_cluster.stream_leader(streams.PLANNING_EVENTS) == leader
    finally:
        await nc.close()


async def test_a_stream_moves_from_one_replica_to_three_in_place(nats_cluster: EmbeddedNatsCluster) -> None:
    nc = await connect(nats_cluster.url, "test-cluster", wait_seconds=10)
    try:
        js = nc.jetstream()
        spec = STREAMS_BY_NAME[streams.PLANNING_EVENTS]
        await ensure_stream(js, spec, replicas=1)
        # A stream just created in a cluster answers "no responders" until its leader is placed.
        for _ in range(100):
            try:
                await js.publish("planning.story.created", b"{}", headers={"Nats-Msg-Id": "kept"})
                break
            except nats.errors.NoRespondersError:
                await asyncio.sleep(0.2)
        else:
            pytest.fail("the new R1 stream never took a publish")
        moved = await ensure_stream(js, spec, replicas=3)
        assert moved.change == Change.UPDATED and "num_replicas: 1 -> 3" in moved.detail
        info = await js.stream_info(streams.PLANNING_EVENTS)
        assert info.config.num_replicas == 3 and info.state.messages == 1
    finally:
        await nc.close()


async def test_a_single_server_refuses_three_replicas_clearly_and_keeps_the_stream(nc) -> None:
    js = nc.jetstream()
    await ensure_streams(js, replicas=1)
    with pytest.raises(ReplicasUnchangeable, match=r"PLANNING_EVENTS cannot be moved from 1 to 3 replicas"):
        await ensure_stream(js, STREAMS_BY_NAME[streams.PLANNING_EVENTS], replicas=3)
    assert (await js.stream_info(streams.PLANNING_EVENTS)).config.num_replicas == 1


async def test_a_retried_publish_is_stored_once_across_a_stream_leader_change(
    nats_cluster: EmbeddedNatsCluster,
) -> None:
    """The publisher retries a timed-out publish under the same Nats-Msg-Id; the dedupe window is
    replicated state, so the new leader still recognises ids the old one stored."""
    nc = await connect(nats_cluster.url, "test-cluster", wait_seconds=10)
    try:
        js = nc.jetstream()
        await ensure_streams(js, replicas=3)
        publisher = EventPublisher(js, "test", ack_timeout=2.0, max_attempts=20, max_backoff=1.0)
        ids = [f"event-{n}" for n in range(50)]
        for event_id in ids[:25]:
            await publisher.publish_raw("planning.story.created", b"{}", msg_id=event_id)
        old_leader = nats_cluster.stream_leader(streams.PLANNING_EVENTS)
        nats_cluster.kill(old_leader)
        # Everything again (the first half are retries of stored messages), through the election.
        acks = [await publisher.publish_raw("planning.story.created", b"{}", msg_id=i) for i in ids]
        assert [ack.duplicate for ack in acks[:25]] == [True] * 25
        assert not any(ack.duplicate for ack in acks[25:])
        assert nats_cluster.stream_leader(streams.PLANNING_EVENTS) != old_leader
        await asyncio.to_thread(nats_cluster.restart, old_leader)
        info = await js.stream_info(streams.PLANNING_EVENTS)
        assert info.state.messages == 50
    finally:
        await nc.close()


async def test_verify_names_an_offline_replica_and_a_stream_below_its_replicas(
    nats_cluster: EmbeddedNatsCluster,
) -> None:
    nc = await connect(nats_cluster.url, "test-cluster", wait_seconds=10)
    try:
        js = nc.jetstream()
        await ensure_streams(js, replicas=3)
        for _ in range(100):  # new streams' replicas may be "behind" for a moment: until they caught up
            healthy = VerifyReport(target={})
            await check_streams(healthy, js, replicas=3)
            if healthy.ok:
                break
            await asyncio.sleep(0.2)
        assert healthy.ok, [row.reason for row in healthy.rows if not row.ok]
        below = VerifyReport(target={})
        await check_streams(below, js, replicas=5)
        assert all("R3 instead of R5" in row.reason for row in below.section("streams")), below.rows
        follower = next(i for i in range(3) if i != nats_cluster.stream_leader(streams.PLANNING_EVENTS))
        nats_cluster.kill(follower)
        planning = None
        for _ in range(150):  # the leader marks a peer offline after missing its heartbeats
            down = VerifyReport(target={})
            await check_streams(down, js, replicas=3)
            planning = next(row for row in down.section("streams") if row.name == streams.PLANNING_EVENTS)
            # A timed-out info (the client may be reconnecting from the killed node) is asked again.
            if not planning.ok and "timed out" not in planning.reason:
                break
            await asyncio.sleep(0.2)
        assert planning is not None and not planning.ok, planning
        assert nats_cluster.names[follower] in planning.reason, planning.reason
    finally:
        await nc.close()


async def test_an_existing_kv_bucket_is_moved_to_three_replicas_and_keeps_its_keys(
    nats_cluster: EmbeddedNatsCluster,
) -> None:
    nc = await connect(nats_cluster.url, "test-cluster", wait_seconds=10)
    try:
        js = nc.jetstream()
        first = await KvResultLedger.open(js, "TEST_BUCKET", replicas=1)
        await first.record("task-1", b"result")
        assert (await js.stream_info("KV_TEST_BUCKET")).config.num_replicas == 1
        again = await KvResultLedger.open(js, "TEST_BUCKET", replicas=3)
        assert (await js.stream_info("KV_TEST_BUCKET")).config.num_replicas == 3
        assert await again.get("task-1") == b"result"
    finally:
        await nc.close()
