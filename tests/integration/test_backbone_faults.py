"""Real consumer processes under faults: SIGKILL mid-batch, shared durables, a NATS restart.

Each worker applies every event's amount to a SQLite total guarded by an inbox table written in
the same transaction. The total proves each effect happened exactly once, not at least once.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path

import pytest

from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events.payloads import DecisionApproved
from tests.support.ledger_worker import SUBJECT, open_ledger
from tests.support.processes import kill, spawn_module

WORKER = "tests.support.ledger_worker"


async def publish_amounts(url: str, amounts: list[int], *, pause_every: int = 0, pause: float = 0.0) -> None:
    nc = await connect(url, "publisher", wait_seconds=10)
    js = nc.jetstream()
    await ensure_streams(js)
    publisher = EventPublisher(js, "fault-test", ack_timeout=2.0, max_attempts=60, max_backoff=1.0)
    for index, amount in enumerate(amounts):
        await publisher.publish(
            SUBJECT,
            DecisionApproved(
                decision_id=f"D-{index}",
                story_id="US-ledger",
                title=f"amount {amount}",
                rationale="test",
                decided_by="test",
            ),
        )
        if pause_every and index % pause_every == 0:
            await asyncio.sleep(pause)
    await nc.close()


def ledger_state(path: Path) -> tuple[int, int, int, set[int]]:
    db = sqlite3.connect(path)
    total = db.execute("SELECT amount FROM total").fetchone()[0]
    rows = db.execute("SELECT count(*), count(DISTINCT event_id) FROM inbox").fetchone()
    workers = {row[0] for row in db.execute("SELECT DISTINCT worker FROM inbox")}
    db.close()
    return total, rows[0], rows[1], workers


def wait_for_count(path: Path, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ledger_state(path)[1] >= expected:
            return
        time.sleep(0.2)


async def test_sigkill_at_random_points_leaves_every_effect_exactly_once(nats_server, tmp_path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    open_ledger(str(ledger)).close()
    rng = random.Random(7)
    amounts = [rng.randint(1, 1000) for _ in range(3000)]
    await publish_amounts(nats_server.url, amounts)

    kills = 0
    deadline = time.monotonic() + 120
    while ledger_state(ledger)[1] < len(amounts) and time.monotonic() < deadline:
        worker = spawn_module(
            WORKER,
            nats_server.url,
            str(ledger),
            "ledger",
            "--batch",
            "25",
            "--delay",
            "0.1",
            log=tmp_path / "workers.log",
        )
        if kills < 12:
            time.sleep(rng.uniform(0.2, 1.2))  # somewhere in the middle of some batch
            kill(worker)
            kills += 1
        else:
            wait_for_count(ledger, len(amounts), 60)
            kill(worker)

    total, rows, distinct, workers = ledger_state(ledger)
    assert kills >= 6 and len(workers) > 1  # several processes died mid-stream
    assert rows == distinct == len(amounts)
    assert total == sum(amounts)


async def test_two_processes_on_one_durable_split_the_work_without_double_effects(
    nats_server, tmp_path
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    open_ledger(str(ledger)).close()
    amounts = list(range(1, 1501))
    workers = [
        spawn_module(
            WORKER,
            nats_server.url,
            str(ledger),
            "shared",
            "--batch",
            "10",
            "--delay",
            "0.02",
            log=tmp_path / "workers.log",
        )
        for _ in range(2)
    ]
    try:
        await publish_amounts(nats_server.url, amounts)
        wait_for_count(ledger, len(amounts), 90)
    finally:
        for worker in workers:
            kill(worker, 15)  # SIGTERM: graceful drain
    assert all(worker.returncode == 0 for worker in workers)

    total, rows, distinct, _ = ledger_state(ledger)
    assert rows == distinct == len(amounts)
    assert total == sum(amounts)
    db = sqlite3.connect(ledger)
    per_worker = dict(db.execute("SELECT worker, count(*) FROM inbox GROUP BY worker").fetchall())
    duplicates_absorbed = db.execute("SELECT count(*) FROM applications WHERE n = 0").fetchone()[0]
    db.close()
    assert set(per_worker) == {w.pid for w in workers}
    assert min(per_worker.values()) > len(amounts) * 0.2, per_worker
    assert duplicates_absorbed >= 0


@pytest.mark.private_nats  # it pauses or restarts the server
async def test_a_nats_restart_mid_stream_loses_nothing(nats_server, tmp_path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    open_ledger(str(ledger)).close()
    amounts = list(range(1, 1001))
    worker = spawn_module(
        WORKER, nats_server.url, str(ledger), "restart", "--batch", "20", log=tmp_path / "workers.log"
    )
    try:
        publishing = asyncio.create_task(
            publish_amounts(nats_server.url, amounts, pause_every=10, pause=0.01)
        )
        await asyncio.sleep(0.8)
        nats_server.stop()  # mid-stream: publisher and consumer both lose the server
        await asyncio.sleep(1.5)
        nats_server.start()
        await asyncio.wait_for(publishing, 120)
        await asyncio.to_thread(wait_for_count, ledger, len(amounts), 90)
    finally:
        kill(worker, 15)

    total, rows, distinct, _ = ledger_state(ledger)
    assert rows == distinct == len(amounts)
    assert total == sum(amounts)
