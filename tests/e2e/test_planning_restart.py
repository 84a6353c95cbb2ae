"""Planning data survives its process: killed outright or stopped gracefully, then started again."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleet_testing.auth import bearer
from swe_fleet.embedded.child import free_port
from tests.integration.planning.support import (
    StoreTarget,
    await_until,
    outbox_pending,
    planning_events,
    spawn_planning,
    store_target,
)
from tests.support.processes import kill


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreTarget]:
    with store_target(request.param, tmp_path) as target:
        yield target


async def snapshot(client: httpx.AsyncClient) -> dict:
    return {
        "projects": (await client.get("/v1/projects")).json(),
        "epics": (await client.get("/v1/epics")).json(),
        "stories": [
            (await client.get(f"/v1/stories/{s['id']}")).json()
            for s in (await client.get("/v1/stories")).json()
        ],
        "decisions": (await client.get("/v1/decisions")).json(),
    }


async def test_data_survives_sigkill_and_sigterm_restarts(
    js, nats_server, store: StoreTarget, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "planning.log"
    process = spawn_planning(nats_server.url, store, tmp_path, port, log=log)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10, headers=bearer(tmp_path)) as client:
            project = (await client.post("/v1/projects", json={"name": "Shop"})).json()
            epic = (
                await client.post("/v1/epics", json={"project_id": project["id"], "title": "Auth"})
            ).json()
            story = (
                await client.post(
                    "/v1/stories", json={"title": "Login", "owner": "ana", "epic_id": epic["id"]}
                )
            ).json()
            for state in ("PO_REVIEW", "READY_FOR_PLANNING"):
                await client.post(f"/v1/stories/{story['id']}/transitions", json={"to_state": state})
            plan = (
                await client.post(
                    f"/v1/stories/{story['id']}/plans",
                    json={
                        "description": "d",
                        "acceptance_criteria": ["a"],
                        "roles": ["DEV"],
                    },
                )
            ).json()
            await client.post(f"/v1/plans/{plan['id']}/approve", json={"notes": "n"})
            decision = (
                await client.post("/v1/decisions", json={"story_id": story["id"], "title": "t"})
            ).json()
            await client.post(f"/v1/decisions/{decision['id']}/approve", json={"rationale": "r"})
            before = await snapshot(client)
        assert before["stories"][0]["state"] == "PLANNED" and before["stories"][0]["version"] == 5

        for stop_signal in (signal.SIGKILL, signal.SIGTERM):
            kill(process, stop_signal)
            process = spawn_planning(nats_server.url, store, tmp_path, port, log=log)
            async with httpx.AsyncClient(base_url=base, timeout=10, headers=bearer(tmp_path)) as client:
                assert await snapshot(client) == before, f"data changed across a {stop_signal.name} restart"

        await await_until(lambda: outbox_pending(store) == 0, 60, "the outbox to drain")
        # Nine events (3 created, 3 transitions, plan created and approved, decision approved; a
        # proposed decision publishes nothing), each once, whatever the restarts.
        events = await planning_events(js)
        assert len(events) == len({stored.envelope.event_id for stored in events}) == 9
    finally:
        kill(process, signal.SIGTERM)
