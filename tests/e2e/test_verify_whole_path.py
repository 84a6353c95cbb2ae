"""`fleet verify` over the whole path, against a fleet of real processes that the tests break.

Each test breaks the running fleet in one way (a service SIGKILLed, the LLM server down, a durable
left without pullers, a dead letter), sees the matching rows go ❌ with a reason and the exit code 1,
then repairs it and sees verify ✅ with exit code 0 again. The probe goes planning → Context →
orchestrator → an agent worker (which fetches the probe story's context, no LLM call) → back to the
orchestrator, so a fleet whose agent workers are all dead cannot pass.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import nats
import pytest

from swe_fleet.verify.probe import PATH_ANSWERED, PATH_CONTEXT
from tests.support.process_fleet import LLM, ProcessFleet

# Seconds verify waits for the probe's effects: generous when the fleet is whole (a shared two-core
# machine; never a speed claim), shorter when a part is known dead and the wait runs out by design.
DEADLINE, BROKEN_DEADLINE = 60, 25


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFleet]:
    running = ProcessFleet.create(tmp_path_factory.mktemp("whole-path"))
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def verify(fleet: ProcessFleet, deadline: int = BROKEN_DEADLINE) -> tuple[int, dict[str, dict]]:
    ready = [
        f"--ready-url={fleet.url(name)}" for name in ("orchestrator", "agent-worker", "sentinel", "workspace")
    ]
    result = subprocess.run(
        [sys.executable, "-m", "swe_fleet.cli", "verify", "--json", "--deadline", str(deadline), *ready],
        env={**os.environ, **fleet.env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    return result.returncode, {row["name"]: row for row in report["rows"]}


def failed(rows: dict[str, dict]) -> dict[str, str]:
    return {name: row["reason"] for name, row in rows.items() if not row["ok"]}


def assert_green(fleet: ProcessFleet) -> dict[str, dict]:
    code, rows = verify(fleet, DEADLINE)
    assert failed(rows) == {} and code == 0, failed(rows)
    return rows


def test_a_whole_fleet_is_green_and_its_probe_went_through_a_worker_with_context(fleet) -> None:
    rows = assert_green(fleet)
    assert rows[PATH_ANSWERED]["found"].startswith("answered by ")
    assert rows[PATH_CONTEXT]["found"].startswith("version ")
    assert rows["agent-workers"]["found"].startswith("pullers ") and rows["agent-workers"]["ok"]
    assert rows["agent-worker.llm"]["ok"] and rows["llm"]["ok"]


def test_dead_agent_workers_are_red_then_green_after_restart(fleet) -> None:
    fleet.kill("agent-worker")
    code, rows = verify(fleet)
    assert code == 1
    assert "no process pulled from it" in rows["agent-workers"]["reason"]
    assert "no agent worker answered the probe command" in rows[PATH_ANSWERED]["reason"]
    fleet.start("agent-worker")
    assert_green(fleet)


def test_an_orchestrator_started_then_killed_is_red_then_green_after_restart(fleet) -> None:
    fleet.kill("orchestrator")
    code, rows = verify(fleet)
    assert code == 1
    # Its durables outlive it: they exist without a puller, and that is ❌ (a durable without pullers).
    assert rows["orchestrator-plan-approved"]["found"].startswith("pullers 0")
    assert "is the orchestrator service running?" in rows["orchestrator-plan-approved"]["reason"]
    assert "the orchestrator sent no probe command" in rows[PATH_ANSWERED]["reason"]
    fleet.start("orchestrator")
    assert_green(fleet)


def test_a_dead_context_service_is_red_then_green_after_restart(fleet) -> None:
    fleet.kill("context")
    code, rows = verify(fleet)
    assert code == 1
    assert not rows["graph"]["ok"] and "context API unreachable" in rows["graph"]["reason"]
    assert not rows["context-plan-approved"]["ok"]
    # The worker still answered, and said why it had no context: the degradation is visible.
    assert rows[PATH_ANSWERED]["ok"], rows[PATH_ANSWERED]
    assert "Context service unreachable" in rows[PATH_CONTEXT]["reason"]
    fleet.start("context")
    assert_green(fleet)


def test_a_dead_llm_server_is_red_then_green_after_restart(fleet) -> None:
    fleet.kill(LLM)
    code, rows = verify(fleet)
    assert code == 1
    assert "the LLM server does not answer" in rows["llm"]["reason"]
    assert rows["agent-worker.llm"]["reason"].startswith("agent-worker.llm is degraded")
    fleet.start(LLM)
    assert_green(fleet)


def test_new_dead_letters_are_red_once_then_green(fleet) -> None:
    async def publish_poison() -> None:
        nc = await nats.connect(fleet.nats.url, **fleet.admin)
        await nc.jetstream().publish("planning.story.created", b"{not json")
        await nc.close()

    assert_green(fleet)  # the mark: where DEAD_LETTERS is now
    asyncio.run(publish_poison())
    time.sleep(3)  # the sentinel and Context dead-letter it
    code, rows = verify(fleet)
    assert code == 1
    reason = rows["dead letters since the last run"]["reason"]
    assert "new dead letter(s) since the last verify" in reason and "planning.story.created" in reason
    assert_green(fleet)
