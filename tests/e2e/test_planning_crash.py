"""A real planning process killed between commit and publish, or between publish and marking the
outbox row: after a restart, the change is there and its event is in the stream exactly once."""

from __future__ import annotations

import signal
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


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreTarget]:
    with store_target(request.param, tmp_path) as target:
        yield target


async def events_about(js, story_id: str) -> list:
    return [s for s in await planning_events(js) if getattr(s.envelope.payload, "story_id", None) == story_id]


async def create_story(port: int, story_id: str, data_dir: Path) -> int | None:
    """POST a story; None if the process died before answering."""
    body = {"id": story_id, "title": "survive the crash", "owner": "po"}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=10, headers=bearer(data_dir)
        ) as client:
            return (await client.post("/v1/stories", json=body)).status_code
    except httpx.TransportError:
        return None


@pytest.mark.parametrize("point", ["planning.outbox.after_commit", "planning.outbox.after_publish"])
async def test_a_crash_around_the_publish_ends_with_the_event_published_exactly_once(
    js, nats_server, store: StoreTarget, tmp_path: Path, point: str
) -> None:
    log = tmp_path / "planning.log"
    port = free_port()
    crashing = spawn_planning(nats_server.url, store, tmp_path, port, faults=f"{point}:kill", log=log)
    answer = await create_story(port, "US-crash", tmp_path)
    crashing.wait(20)
    assert crashing.returncode == -signal.SIGKILL, f"the fault did not fire (answer {answer})"

    published_before_restart = len(await events_about(js, "US-crash"))
    if point.endswith("after_commit"):
        assert answer is None  # it died before answering: the client could not know the change committed
        assert published_before_restart == 0
    else:
        assert published_before_restart == 1  # published, but the row was never marked
    assert outbox_pending(store) == 1

    restarted = spawn_planning(nats_server.url, store, tmp_path, port, log=log)
    try:
        await await_until(lambda: outbox_pending(store) == 0, 60, "the restarted relay to drain the outbox")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=10, headers=bearer(tmp_path)
        ) as client:
            story = await client.get("/v1/stories/US-crash")
        assert story.status_code == 200 and story.json()["state"] == "DRAFT"
        events = await events_about(js, "US-crash")
        assert [s.envelope.event_type for s in events] == [subjects.STORY_CREATED]
        assert events[0].envelope.correlation_id == story.json()["correlation_id"]
    finally:
        kill(restarted, signal.SIGTERM)
    assert restarted.returncode == 0
