"""Two planning processes on one store: racing changes give one winner, and every event goes out once."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleet_testing.auth import bearer
from swe_fleet.embedded.child import free_port
from swe_fleet.events import subjects
from tests.integration.planning.support import (
    StoreTarget,
    await_until,
    outbox_pending,
    planning_events,
    spawn_planning,
    store_target,
)
from tests.support.processes import kill

ROUNDS = 8


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreTarget]:
    with store_target(request.param, tmp_path) as target:
        yield target


async def test_racing_transitions_through_two_replicas(
    js, nats_server, store: StoreTarget, tmp_path: Path
) -> None:
    ports = [free_port(), free_port()]
    replicas = [
        spawn_planning(nats_server.url, store, tmp_path, port, log=tmp_path / f"replica-{port}.log")
        for port in ports
    ]
    try:
        headers = bearer(tmp_path)
        clients = [
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=headers)
            for port in ports
        ]
        outcomes: Counter[int] = Counter()
        for round_number in range(ROUNDS):
            created = await clients[round_number % 2].post("/v1/stories", json={"title": "t", "owner": "po"})
            story_id = created.json()["id"]
            # Both POs read version 1 (DRAFT -> PO_REVIEW is the only move) and both try it, one per replica.
            results = await asyncio.gather(
                *(
                    client.post(
                        f"/v1/stories/{story_id}/transitions",
                        json={"to_state": "PO_REVIEW"},
                        headers={"If-Match": '"1"'},
                    )
                    for index, client in enumerate(clients)
                )
            )
            statuses = sorted(response.status_code for response in results)
            assert statuses == [200, 409], [response.text for response in results]
            loser = next(response for response in results if response.status_code == 409)
            assert (
                "version 2, not 1" in loser.json()["detail"]
                or "changed by someone else" in loser.json()["detail"]
            )
            outcomes.update(statuses)
        for client in clients:
            await client.aclose()

        await await_until(lambda: outbox_pending(store) == 0, 60, "the replicas' relay to drain the outbox")
        events = await planning_events(js)
        counts = Counter(stored.envelope.event_type for stored in events)
        assert counts == {subjects.STORY_CREATED: ROUNDS, subjects.STORY_TRANSITIONED: ROUNDS}
        assert len({stored.envelope.event_id for stored in events}) == 2 * ROUNDS
        assert outcomes == {200: ROUNDS, 409: ROUNDS}
    finally:
        for replica in replicas:
            kill(replica, signal.SIGTERM)
