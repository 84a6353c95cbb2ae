"""Measurements behind the planning ADRs; a script, not a test:

    python -m tests.integration.planning.measure_planning


1. Use-case commits per second, one writer, on SQLite (synchronous=FULL, and NORMAL for comparison)
   and on the local PostgreSQL: a story created then moved through five states (6 commits each).
2. Commit -> event in the stream latency through the HTTP API and a real nats-server, with the relay
   woken after each commit, and with wake-ups disabled (poll only, 1 s).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from swe_fleet.backbone.connection import connect
from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.nats_server import EmbeddedNats
from swe_fleet.events.payloads import StoryState
from swe_fleet.planning.adapters import outbox as outbox_module
from swe_fleet.planning.adapters.database import Database
from swe_fleet.planning.adapters.unit_of_work import SqlUnitOfWork
from swe_fleet.planning.app import commands as c
from swe_fleet.planning.app import use_cases as uc
from tests.integration.planning.support import StoreTarget, postgres_available, running_planning, store_target

PATH = [
    StoryState.PO_REVIEW,
    StoryState.READY_FOR_PLANNING,
    StoryState.PLANNED,
    StoryState.READY_FOR_EXECUTION,
]


def commits_per_second(database: Database, stories: int) -> float:
    database.create_schema()
    started = time.perf_counter()
    for index in range(stories):
        story = uc.create_story(
            c.CreateStory(title="t", owner="po", created_by="po", story_id=f"US-m{index}"),
            SqlUnitOfWork(database),
        )
        for state in [*PATH, StoryState.IN_PROGRESS]:
            uc.transition_story(c.TransitionStory(story.id, state, by="po"), SqlUnitOfWork(database))
    return stories * 6 / (time.perf_counter() - started)


def measure_store(stories: int = 100) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for sync in ("FULL", "NORMAL"):
            database = Database(f"sqlite:///{tmp}/{sync}.sqlite3")
            if sync == "NORMAL":
                import sqlalchemy as sa

                @sa.event.listens_for(database.engine, "connect")
                def _normal(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
                    dbapi_connection.execute("PRAGMA synchronous=NORMAL")

            print(f"sqlite synchronous={sync}: {commits_per_second(database, stories):.0f} commits/s")
            database.dispose()
        reason = postgres_available()
        if reason:
            print(f"postgresql: skipped ({reason})")
            return
        with store_target("postgresql", Path(tmp)) as target:
            database = target.database()
            print(f"postgresql: {commits_per_second(database, stories):.0f} commits/s")
            database.dispose()


async def publish_latency(
    nats: EmbeddedNats, target: StoreTarget, data_dir: Path, wake: bool, n: int
) -> list[float]:
    nc = await connect(nats.url, "measure", wait_seconds=5)
    arrived: dict[str, float] = {}

    async def on_message(message) -> None:  # type: ignore[no-untyped-def]
        arrived[message.headers["Nats-Msg-Id"]] = time.perf_counter()

    await nc.subscribe("planning.story.transitioned", cb=on_message)
    original = outbox_module.OutboxRelay.wake
    if not wake:
        outbox_module.OutboxRelay.wake = lambda self: None  # type: ignore[method-assign]
    latencies = []
    try:
        async with running_planning(nats.url, target, data_dir) as client:
            for index in range(n):
                story = (await client.post("/v1/stories", json={"title": "t", "owner": "po"})).json()
                moved = await client.post(
                    f"/v1/stories/{story['id']}/transitions", json={"to_state": "PO_REVIEW"}
                )
                committed = time.perf_counter()  # the answer arrived: the change is committed
                assert moved.status_code == 200
                history = (await client.get(f"/v1/stories/{story['id']}")).json()["history"]
                event_id = history[-1]["event_id"]
                while event_id not in arrived:
                    await asyncio.sleep(0.0005)
                latencies.append((arrived[event_id] - committed) * 1000)
                if index % 10 == 0:
                    await asyncio.sleep(0.05)
    finally:
        outbox_module.OutboxRelay.wake = original  # type: ignore[method-assign]
        await nc.close()
    return latencies


async def measure_latency(n: int = 200) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        nats = EmbeddedNats(Path(tmp) / "nats", port=free_port())
        nats.start()
        try:
            for wake, count in ((True, n), (False, 20)):
                with store_target("sqlite", Path(tmp) / f"wake-{wake}") as target:
                    (Path(tmp) / f"wake-{wake}").mkdir(exist_ok=True)
                    values = sorted(
                        await publish_latency(nats, target, Path(tmp) / f"wake-{wake}", wake, count)
                    )
                    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
                    print(
                        f"commit -> stream, relay {'woken' if wake else 'polling only'}: "
                        f"p50 {statistics.median(values):.1f} ms, p99 {p99:.1f} ms (n={len(values)})"
                    )
        finally:
            nats.stop()


if __name__ == "__main__":
    measure_store()
    asyncio.run(measure_latency())
