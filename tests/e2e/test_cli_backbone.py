"""The backbone's CLI as a user runs it: real `fleet` processes against a real nats-server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Sequence

from swe_fleet.backbone.consumer import ConsumerRuntime, Delivery
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.embedded.child import free_port
from swe_fleet.events.payloads import Payload
from swe_fleet.events.streams import STREAMS


def fleet(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEET_NATS_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "swe_fleet.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_streams_ensure_is_idempotent_and_ls_shows_them_all(nats_server) -> None:
    first = fleet(nats_server.url, "streams", "ensure", "--json")
    second = fleet(nats_server.url, "streams", "ensure", "--json")
    assert first.returncode == second.returncode == 0, first.stderr
    assert {row["change"] for row in json.loads(first.stdout)} == {"created"}
    assert {row["change"] for row in json.loads(second.stdout)} == {"unchanged"}
    listing = fleet(nats_server.url, "streams", "ls", "--json")
    rows = json.loads(listing.stdout)
    assert len(rows) == len(STREAMS) and all(row["found"] and row["storage"] == "file" for row in rows)


def test_publish_validates_against_the_subject_model_with_one_clear_line(nats_server) -> None:
    ok = fleet(
        nats_server.url,
        "events",
        "publish",
        "planning.plan.approved",
        '{"story_id":"US-1","plan_id":"P-1","approved_by":"po"}',
    )
    assert ok.returncode == 0 and "published planning.plan.approved seq 1" in ok.stdout
    bad = fleet(nats_server.url, "events", "publish", "planning.plan.approved", '{"story_id":"US-1"}')
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == ["fleet: invalid PlanApproved: plan_id: Field required"]
    unknown = fleet(nats_server.url, "events", "publish", "planning.nope", "{}")
    assert unknown.returncode == 2 and unknown.stderr.startswith("fleet: unknown subject")
    from_stdin = fleet(
        nats_server.url,
        "events",
        "publish",
        "planning.plan.approved",
        "-",
        stdin='{"story_id":"US-2","plan_id":"P-2","approved_by":"po"}',
    )
    assert from_stdin.returncode == 0 and "seq 2" in from_stdin.stdout


def test_unreachable_nats_is_one_line_and_a_non_zero_exit() -> None:
    result = fleet(f"nats://127.0.0.1:{free_port()}", "streams", "ls")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fleet: cannot connect to NATS at nats://127.0.0.1:")


async def test_dead_letters_are_listed_with_their_reason_and_replayed(nats_server, nc, js) -> None:
    assert (
        fleet(
            nats_server.url,
            "events",
            "publish",
            "--raw",
            "planning.decision.approved",
            '{"decision_id": "D-1"}',
        ).returncode
        == 0
    )
    seen: list[str] = []

    async def handle(deliveries: Sequence[Delivery]) -> None:
        seen.extend(d.payload.decision_id for d in deliveries)

    spec = ConsumerSpec(
        durable="cli-test",
        stream="PLANNING_EVENTS",
        filter_subject="planning.decision.approved",
        fetch_wait_seconds=0.2,
    )
    runtime = ConsumerRuntime(
        nc, spec, handle, DeadLetterWriter(EventPublisher(js, "test")), payload_type=Payload
    )
    task = asyncio.create_task(runtime.run())
    while runtime.stats.dead_lettered < 1:
        await asyncio.sleep(0.05)

    listing = await asyncio.to_thread(fleet, nats_server.url, "dlq", "ls", "--json")
    letters = json.loads(listing.stdout)
    assert len(letters) == 1
    assert letters[0]["reason"] == "invalid_payload" and "story_id" in letters[0]["detail"]
    assert (
        letters[0]["consumer"] == "cli-test"
        and letters[0]["original_subject"] == "planning.decision.approved"
    )

    consumers = json.loads(
        (await asyncio.to_thread(fleet, nats_server.url, "consumers", "ls", "--json")).stdout
    )
    assert [(c["durable"], c["filter_subject"], c["ack_pending"]) for c in consumers] == [
        ("cli-test", "planning.decision.approved", 0)
    ]

    nothing = await asyncio.to_thread(fleet, nats_server.url, "dlq", "replay")
    assert nothing.returncode == 2 and "say which dead letters" in nothing.stderr
    replay = await asyncio.to_thread(fleet, nats_server.url, "dlq", "replay", str(letters[0]["seq"]))
    assert replay.returncode == 0 and "replayed dead letter" in replay.stdout
    while runtime.stats.dead_lettered < 2:  # still poison: it comes back to the DLQ, nothing is lost
        await asyncio.sleep(0.05)
    runtime.stop()
    await task
    after = json.loads((await asyncio.to_thread(fleet, nats_server.url, "dlq", "ls", "--json")).stdout)
    assert len(after) == 1 and after[0]["seq"] != letters[0]["seq"]
    assert seen == []


def test_tail_prints_the_last_events_and_stops_after_count(nats_server) -> None:
    for n in range(3):
        fleet(
            nats_server.url,
            "events",
            "publish",
            "planning.plan.approved",
            json.dumps({"story_id": f"US-{n}", "plan_id": f"P-{n}", "approved_by": "po"}),
        )
    tail = fleet(nats_server.url, "events", "tail", "planning.>", "--last", "2", "--count", "2", "--json")
    assert tail.returncode == 0, tail.stderr
    events = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [e["seq"] for e in events] == [2, 3]
    assert json.loads(events[-1]["data"])["payload"]["story_id"] == "US-2"
