"""The Context service as real processes: killed around its commit, restarted; and `fleet graph query`.

A process killed before or after committing a batch (FLEET_FAULTS, SIGKILL: nothing flushed, nothing
acked) gets its batch back after a restart; every event's effect is in the graph exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from fleet_testing.auth import bearer, token_for
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.context.consumers import consumer_specs
from swe_fleet.embedded.child import free_port
from tests.conftest import REDIS_URL
from tests.integration.context.test_projection import EXPECTED_NODES, envelopes
from tests.support.processes import kill, spawn_module


def context_env(nats_url: str, tmp_path: Path, port: int, faults: str = "") -> dict[str, str]:
    return {
        "FLEET_NATS_URL": nats_url,
        "FLEET_DATA_DIR": str(tmp_path / "data"),
        "FLEET_GRAPH_URL": f"ladybug://{tmp_path}/graph/fleet.lbug",
        "FLEET_VALKEY_URL": REDIS_URL,
        "FLEET_HTTP_PORT": str(port),
        "FLEET_FAULTS": faults,
        "FLEET_LLM_URL": "",
    }


def spawn_context(nats_url: str, tmp_path: Path, port: int, faults: str = "") -> subprocess.Popen:
    return spawn_module(
        "swe_fleet.cli",
        "serve",
        "context",
        env=context_env(nats_url, tmp_path, port, faults),
        log=tmp_path / "context.log",
    )


async def graph_rows(port: int, cypher: str, tmp_path: Path) -> list[dict]:
    headers = bearer(tmp_path / "data")  # the issuer of the process's data dir
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, headers=headers) as client:
        response = await client.post("/v1/graph/query", json={"cypher": cypher})
        response.raise_for_status()
        return response.json()["rows"]


async def wait_for(check, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {within:.0f}s")


@pytest.mark.parametrize("point", ["context.projection.before_commit", "context.projection.after_commit"])
async def test_a_crash_around_the_commit_ends_with_every_effect_exactly_once(
    js, nats_server, tmp_path, point
):
    events = envelopes("US-crash", datetime(2025, 10, 16, 17, 0, tzinfo=UTC))
    publisher = EventPublisher(js, "test")
    for envelope in events:
        await publisher.publish_envelope(envelope)

    port = free_port()
    crashing = spawn_context(nats_server.url, tmp_path, port, faults=f"{point}:kill@1")
    await asyncio.to_thread(crashing.wait, 60)
    assert crashing.returncode == -signal.SIGKILL, "the fault point did not fire"

    restarted = spawn_context(nats_server.url, tmp_path, port)
    try:

        async def all_applied() -> bool:
            rows = await graph_rows(port, "MATCH (e:ProjectedEvent) RETURN count(e) AS n", tmp_path)
            return rows[0]["n"] == len(events)

        # The killed batch comes back after its ack wait (10 s): no process acked it.
        await wait_for(all_applied, 120, "every event applied after the restart")
        for label, expected in EXPECTED_NODES.items():
            rows = await graph_rows(port, f"MATCH (n:{label}) RETURN count(n) AS n", tmp_path)
            assert rows[0]["n"] == expected, label
        story = await graph_rows(port, "MATCH (s:Story {id: 'US-crash'}) RETURN s.state AS state", tmp_path)
        assert story == [{"state": "IN_PROGRESS"}]
        for spec in consumer_specs():
            info = await js.consumer_info(spec.stream, spec.durable)
            assert info.num_ack_pending == 0 and info.num_pending == 0
    finally:
        kill(restarted, signal.SIGTERM)
    assert restarted.returncode == 0


def fleet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swe_fleet.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_fleet_graph_query_goes_through_the_api_of_the_process_that_owns_the_graph(
    js, nats_server, tmp_path
):
    port = free_port()
    service = spawn_context(nats_server.url, tmp_path, port)
    env = {
        "FLEET_NATS_URL": nats_server.url,
        "FLEET_API_URL": f"http://127.0.0.1:{port}",
        "FLEET_TOKEN": token_for(tmp_path / "data"),
    }
    try:
        # The field report's command, with our CLI: a bare JSON payload published as is.
        body = '{"story_id":"US-VERIFY-001","plan_id":"plan-verify-v1","approved_by":"po"}'
        published = await asyncio.to_thread(
            fleet, "events", "publish", "--raw", "planning.plan.approved", body, env=env
        )
        assert published.returncode == 0, published.stderr

        async def approval_listed() -> bool:
            result = await asyncio.to_thread(
                fleet, "graph", "query", "MATCH (n:PlanApproval) RETURN n", "--json", env=env
            )
            return result.returncode == 0 and json.loads(result.stdout)["row_count"] == 1

        await wait_for(approval_listed, 60, "the PlanApproval to be queryable")
        table = await asyncio.to_thread(
            fleet,
            "graph",
            "query",
            "MATCH (n:PlanApproval) RETURN n.plan_id AS plan, n.approved_by AS by",
            env=env,
        )
        assert table.returncode == 0 and "plan-verify-v1" in table.stdout and "1 row(s)" in table.stdout

        refused = await asyncio.to_thread(fleet, "graph", "query", "MATCH (n) DETACH DELETE n", env=env)
        assert refused.returncode != 0
        assert refused.stderr.strip().count("\n") == 0 and refused.stderr.startswith("fleet: ")
        assert "read-only" in refused.stderr

        stats = await asyncio.to_thread(fleet, "graph", "stats", "--json", env=env)
        assert json.loads(stats.stdout)["nodes"]["PlanApproval"] == 1

        context = await asyncio.to_thread(
            fleet, "context", "get", "US-VERIFY-001", "--role", "PO", "--phase", "PLANNED", "--json", env=env
        )
        assert context.returncode == 0, context.stderr
        assert "plan-verify-v1" in json.loads(context.stdout)["blocks"]["context"]
        denied = await asyncio.to_thread(
            fleet, "context", "get", "US-VERIFY-001", "--role", "INTERN", "--phase", "PLANNED", env=env
        )
        assert denied.returncode != 0 and "scope policy" in denied.stderr
    finally:
        kill(service, signal.SIGTERM)
