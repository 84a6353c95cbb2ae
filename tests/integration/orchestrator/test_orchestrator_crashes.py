"""Real orchestrator processes: killed mid-deliberation (SIGKILL) and restarted, or two sharing the work.

Each scenario ends when every task is dispatched; then the ORCHESTRATOR_EVENTS stream must hold
exactly one DeliberationCompleted (one distinct event id, one message) and one TaskDispatched per
task, and every deliberation in the state bucket must be completed with nothing left to publish.
The agents are the scripted stand-in (support.ScriptedWorker): the LLM path is not under test here.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from fleet_testing.stand_in.answers import derive_answer
from swe_fleet.events import subjects
from swe_fleet.events.payloads import Role
from swe_fleet.orchestrator.adapters.state_store import DELIBERATION_PREFIX, StateStore
from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState, Status
from tests.integration.orchestrator.support import (
    Script,
    ScriptedWorker,
    orchestration_events,
    publish_approval,
)
from tests.support.processes import kill, spawn_module
from tests.support.waiting import eventually

# `fleet serve orchestrator` without an HTTP API: several replicas share this machine.
ORCHESTRATOR = ("swe_fleet.cli", "serve", "orchestrator", "--no-http")
TASKS = 3


def orchestrator_env(url: str, faults: str = "") -> dict[str, str]:
    env = {
        "FLEET_NATS_URL": url,
        "FLEET_COUNCIL_DEADLINE_SECONDS": "60",
        # The whole protocol (the packaged default has no critique round): kills land mid-revision.
        "FLEET_COUNCIL_ROUNDS": "1",
        "FLEET_COUNCIL_JUDGES": "2",
        "FLEET_ORCHESTRATOR_TICK_SECONDS": "0.1",
        "FLEET_LOG_LEVEL": "WARNING",
        "FLEET_FAULTS": faults,
    }
    return env


def three_tasks() -> dict:
    return derive_answer(
        {"plan": {"description": "Export invoices as CSV"}, "roles": ["DEV", "QA"]}, count=TASKS
    )


async def dispatched(js) -> int:
    return len({e.payload.task_id for e in await orchestration_events(js, subjects.TASK_DISPATCHED)})


async def assert_each_task_deliberated_once(js) -> None:
    completed = await orchestration_events(js, subjects.DELIBERATION_COMPLETED)
    per_task = Counter(e.payload.task_id for e in completed)
    distinct = Counter(task for task, _ in {(e.payload.task_id, e.event_id) for e in completed})
    assert len(per_task) == TASKS
    assert set(per_task.values()) == {1}, f"messages per task: {per_task}"
    assert set(distinct.values()) == {1}, f"distinct completions per task: {distinct}"
    dispatches = Counter(e.payload.task_id for e in await orchestration_events(js, subjects.TASK_DISPATCHED))
    assert set(dispatches.values()) == {1} and len(dispatches) == TASKS
    (derived,) = await orchestration_events(js, subjects.TASKS_DERIVED)
    assert len(derived.payload.tasks) == TASKS

    store = await StateStore.open(js, "FLEET_ORCHESTRATOR")
    keys = await store.keys(DELIBERATION_PREFIX)
    assert len(keys) == TASKS
    for key in keys:
        state, _ = await store.get(key, DeliberationState)
        assert state is not None and state.status is Status.COMPLETED and not state.outbox


@pytest.mark.parametrize(
    "faults",
    [
        "orchestrator.after_state_write:kill@4",  # right after the first deliberation writes
        "orchestrator.after_state_write:kill@12",  # mid-critique/revise
        "orchestrator.after_publish:kill@9",  # published, outbox not yet cleared
        "orchestrator.after_deliberation_created:kill@2",  # one deliberation created, the rest not
    ],
)
async def test_a_killed_orchestrator_resumes_and_deliberates_each_task_once(
    nats_server, nc, js, tmp_path: Path, faults: str
) -> None:
    log = tmp_path / "orchestrator.log"
    async with ScriptedWorker(nc, Script(derive_outputs=[three_tasks()], delay_seconds=0.05)):
        first = spawn_module(*ORCHESTRATOR, env=orchestrator_env(nats_server.url, faults), log=log)
        await publish_approval(js, story_id="US-K", plan_id="PL-K", roles=[Role.DEV, Role.QA])
        await eventually(lambda: _exited(first), within=120, what=f"the fault {faults} fired")
        assert first.returncode == -signal.SIGKILL, f"the fault {faults} never fired (see {log})"
        assert await dispatched(js) < TASKS, "the crash came after the work was done"

        second = spawn_module(*ORCHESTRATOR, env=orchestrator_env(nats_server.url), log=log)
        try:
            await settled(js)
            await assert_each_task_deliberated_once(js)
        finally:
            kill(second, signal.SIGTERM)


async def _exited(process) -> bool:
    return process.poll() is not None


async def _all_dispatched(js) -> bool:
    return await dispatched(js) >= TASKS


async def settled(js) -> None:
    """Every task dispatched and every deliberation's outbox emptied: a dispatch is published before
    the state write that clears its outbox entry, so the second can trail the first."""
    await eventually(lambda: _all_dispatched(js), within=120, what="every task dispatched")
    await eventually(lambda: _outboxes_empty(js), within=30, what="every outbox emptied")


async def _outboxes_empty(js) -> bool:
    store = await StateStore.open(js, "FLEET_ORCHESTRATOR")
    for key in await store.keys(DELIBERATION_PREFIX):
        state, _ = await store.get(key, DeliberationState)
        if state is None or state.outbox:
            return False
    return True


async def test_sigkill_from_outside_mid_deliberation_then_restart(
    nats_server, nc, js, tmp_path: Path
) -> None:
    log = tmp_path / "orchestrator.log"
    # Answers slow enough that a deliberation seen revising cannot also finish before the kill lands
    # (at 0.05 s an answer, all three were sometimes dispatched between two polls).
    script = Script(derive_outputs=[three_tasks()], delay_seconds=0.5)
    async with ScriptedWorker(nc, script) as worker:
        first = spawn_module(*ORCHESTRATOR, env=orchestrator_env(nats_server.url), log=log)
        await publish_approval(js, story_id="US-X", plan_id="PL-X", roles=[Role.DEV, Role.QA])

        async def revising() -> bool:
            return worker.kinds()["revise"] >= 2

        await eventually(revising, what="deliberations in their revise phase")
        kill(first, signal.SIGKILL)
        assert await dispatched(js) < TASKS

        second = spawn_module(*ORCHESTRATOR, env=orchestrator_env(nats_server.url), log=log)
        try:
            await settled(js)
            await assert_each_task_deliberated_once(js)
        finally:
            kill(second, signal.SIGTERM)


@pytest.mark.parametrize("kill_one", [False, True], ids=["both-live", "one-killed-mid-way"])
async def test_two_replicas_share_the_durables_and_deliberate_each_task_once(
    nats_server, nc, js, tmp_path: Path, kill_one: bool
) -> None:
    script = Script(derive_outputs=[three_tasks()], delay_seconds=0.02)
    async with ScriptedWorker(nc, script) as worker:
        env = orchestrator_env(nats_server.url)
        replicas = [spawn_module(*ORCHESTRATOR, env=env, log=tmp_path / f"replica-{n}.log") for n in (1, 2)]
        try:
            await publish_approval(js, story_id="US-R", plan_id="PL-R", roles=[Role.DEV, Role.QA])
            if kill_one:

                async def critiquing() -> bool:
                    return worker.kinds()["critique"] >= 1

                await eventually(critiquing, what="deliberations under way")
                kill(replicas[0], signal.SIGKILL)
            await settled(js)
            await assert_each_task_deliberated_once(js)
        finally:
            for replica in replicas:
                kill(replica, signal.SIGTERM)
