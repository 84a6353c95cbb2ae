"""`fleet up --nats-cluster 3` as a real process: streams at three replicas, and the fleet keeps taking
and projecting changes after one node (FLEET_NATS_CLUSTER_PORT's first) is SIGKILLed (ADR 0504)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from pathlib import Path

import httpx
import pytest

from fleet_testing.auth import bearer
from swe_fleet.backbone.connection import connect
from swe_fleet.embedded.child import free_port, port_is_free
from swe_fleet.events import streams
from swe_fleet.security.nats_auth import ADMIN, client_options
from swe_fleet.settings import FleetSettings
from tests.support.fleet_up import embedded_env, stop, wait_ready

pytestmark = pytest.mark.slow


def disjoint_port_blocks(count: int, *, size: int = 3, taken: Collection[int] = ()) -> list[int]:
    """`count` base ports, each with its next `size - 1` free too (node i listens on base + i), the
    blocks disjoint from each other and from `taken`: the OS hands out a free port, not a free block,
    so two blocks picked one after the other can overlap and a node would find its port in use."""
    bases: list[int] = []
    used = set(taken)
    for _ in range(200):
        base = free_port()
        block = set(range(base, base + size))
        if base < 65000 and not block & used and all(port_is_free("127.0.0.1", port) for port in block):
            bases.append(base)
            used |= block
            if len(bases) == count:
                return bases
    raise RuntimeError(f"no {count} disjoint blocks of {size} free ports")


def pid_of_node(data: Path, index: int) -> int:
    marker = str(data / "nats-cluster" / f"node-{index}").encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    raise LookupError(f"no nats-server process for node {index}")


@pytest.fixture
def cluster_fleet(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], subprocess.Popen]]:
    data = tmp_path / "fleet"
    env = embedded_env(data)
    client, route, monitor = disjoint_port_blocks(
        3, taken={int(env[key]) for key in ("FLEET_VALKEY_PORT", "FLEET_LLM_PORT", "FLEET_HTTP_PORT")}
    )
    env |= {
        "FLEET_NATS_CLUSTER": "3",
        "FLEET_NATS_PORT": str(client),
        "FLEET_NATS_CLUSTER_PORT": str(route),
        "FLEET_NATS_MONITOR_PORT": str(monitor),
    }
    with (tmp_path / "fleet-up.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "swe_fleet.cli", "up", "--no-llm"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://127.0.0.1:{env['FLEET_HTTP_PORT']}", process, log=tmp_path / "fleet-up.log")
        yield data, env, process
    finally:
        stop(process)
    assert process.returncode == 0, (tmp_path / "fleet-up.log").read_text()[-2000:]


async def test_fleet_up_runs_a_cluster_at_three_replicas_and_survives_a_node(cluster_fleet) -> None:
    data, env, process = cluster_fleet
    api = f"http://127.0.0.1:{env['FLEET_HTTP_PORT']}"
    settings = FleetSettings(
        data_dir=data,
        nats_url=None,
        nats_cluster=3,
        nats_port=int(env["FLEET_NATS_PORT"]),
        nats_replicas=None,
    )
    nc = await connect(
        settings.resolved_nats_url, "test", wait_seconds=10, options=client_options(settings, ADMIN)
    )
    try:
        js = nc.jetstream()
        info = await js.stream_info(streams.PLANNING_EVENTS)
        assert info.config.num_replicas == 3 and len(info.cluster.replicas or []) == 2
        durable = await js.consumer_info(streams.PLANNING_EVENTS, "context-story-created")
        assert len(durable.cluster.replicas or []) == 2  # inherited from the stream

        os.kill(pid_of_node(data, 0), signal.SIGKILL)  # clients on it must fail over to the others
        async with httpx.AsyncClient(base_url=api, timeout=30, headers=bearer(data)) as client:
            created = await client.post(
                "/v1/stories", json={"id": "US-after-loss", "title": "after a node's loss", "owner": "po"}
            )
            assert created.status_code == 201, created.text
        # Published on the surviving nodes and projected by Context (its durable acked it).
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                info = await js.stream_info(streams.PLANNING_EVENTS)
                durable = await js.consumer_info(streams.PLANNING_EVENTS, "context-story-created")
            except Exception:  # an election in progress
                durable = None
            if (
                durable is not None
                and info.state.messages >= 1
                and durable.delivered.stream_seq == info.state.last_seq
                and not durable.num_ack_pending
            ):
                break
            await asyncio.sleep(0.5)
        else:
            pytest.fail(f"the story's event was not projected after the node's loss: {durable}")
        assert process.poll() is None, "fleet up died with one NATS node"
    finally:
        await nc.close()
