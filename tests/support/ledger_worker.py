"""A consumer process for fault-injection tests: applies each event's effect to a SQLite ledger.

The effect (adding the event's amount to a running total) is not idempotent by itself; the inbox
table, written in the same transaction, makes it so. If the total equals the sum of the published
amounts and the inbox holds each event once, every effect happened exactly once.

    python -m tests.support.ledger_worker NATS_URL LEDGER_PATH DURABLE [--batch N] [--delay S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
from collections.abc import Sequence

from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.consumer import ConsumerRuntime, Delivery
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.backbone.supervision import on_termination, run_until_stopped
from swe_fleet.events.payloads import Payload

SUBJECT = "planning.decision.approved"


def open_ledger(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS inbox (event_id TEXT PRIMARY KEY, worker INTEGER, seq INTEGER)")
    db.execute("CREATE TABLE IF NOT EXISTS total (id INTEGER PRIMARY KEY CHECK (id = 1), amount INTEGER)")
    db.execute("INSERT OR IGNORE INTO total VALUES (1, 0)")
    db.execute("CREATE TABLE IF NOT EXISTS applications (worker INTEGER, n INTEGER)")
    return db


def amount_of(delivery: Delivery) -> int:
    return int(delivery.envelope.payload.title.split()[-1])


def spec(durable: str, batch: int) -> ConsumerSpec:
    return ConsumerSpec(
        durable=durable,
        stream="PLANNING_EVENTS",
        filter_subject=SUBJECT,
        ack_wait_seconds=2.0,
        max_deliver=50,
        failure_deliveries=5,
        batch_size=batch,
        retry_delays_seconds=(0.2,),
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("nats_url")
    parser.add_argument("ledger")
    parser.add_argument("durable")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds spent in each batch (widens kill windows)"
    )
    args = parser.parse_args()

    db = open_ledger(args.ledger)
    worker = os.getpid()

    def apply(deliveries: Sequence[Delivery]) -> None:
        db.execute("BEGIN IMMEDIATE")
        applied = 0
        for delivery in deliveries:
            inserted = db.execute(
                "INSERT OR IGNORE INTO inbox VALUES (?, ?, ?)",
                (delivery.envelope.event_id, worker, delivery.stream_seq),
            ).rowcount
            if inserted:
                db.execute("UPDATE total SET amount = amount + ? WHERE id = 1", (amount_of(delivery),))
                applied += 1
        db.execute("INSERT INTO applications VALUES (?, ?)", (worker, applied))
        db.execute("COMMIT")

    async def handle(deliveries: Sequence[Delivery]) -> None:
        if args.delay:
            await asyncio.sleep(args.delay)
        await asyncio.to_thread(apply, deliveries)

    nc = await connect(args.nats_url, f"ledger-{worker}", wait_seconds=30)
    js = nc.jetstream()
    await ensure_streams(js)
    runtime = ConsumerRuntime(
        nc,
        spec(args.durable, args.batch),
        handle,
        DeadLetterWriter(EventPublisher(js, "ledger-worker")),
        payload_type=Payload,
    )
    stop = asyncio.Event()
    on_termination(stop.set)
    print("ready", flush=True)
    await run_until_stopped([runtime], stop)
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
