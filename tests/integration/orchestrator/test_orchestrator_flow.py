"""The Orchestrator against a real nats-server, with a scripted stand-in for the agent workers.

The LLM path is not under test here (see support.ScriptedWorker): these tests check what the
Orchestrator does — derivation with repair and failure, one deliberation per task with critique,
revision and scoring, deadlines for silent agents, cancellation, redelivery — through real JetStream
streams, durable consumers and the KV state bucket.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events import subjects
from swe_fleet.events.payloads import (
    DeliberationCompleted,
    Role,
    StoryState,
    StoryTransitioned,
    TaskDispatched,
)
from tests.integration.orchestrator.support import (
    RunningOrchestrator,
    Script,
    ScriptedWorker,
    consumer_drained,
    fast_councils,
    orchestration_events,
    publish_approval,
)
from tests.support.waiting import eventually

CYCLIC = {
    "tasks": [
        {
            "key": "T1",
            "title": "Write the exporter",
            "description": "d",
            "role": "DEV",
            "estimate_hours": 3,
            "depends_on": ["T2"],
        },
        {
            "key": "T2",
            "title": "Test the exporter",
            "description": "d",
            "role": "QA",
            "estimate_hours": 2,
            "depends_on": ["T1"],
        },
    ]
}


async def count(js, subject: str) -> int:
    return len(await orchestration_events(js, subject))


async def test_an_approved_plan_is_derived_deliberated_and_dispatched(nats_server, nc, js) -> None:
    script = Script(broken_artifact_agents=frozenset({"dev-2", "qa-2"}))
    async with ScriptedWorker(nc, script) as worker, RunningOrchestrator(nats_server.url, fast_councils()):
        approval = await publish_approval(js, story_id="US-1", plan_id="PL-1", roles=[Role.DEV, Role.QA])
        await eventually(lambda: _count_is(js, subjects.TASK_DISPATCHED, 2), what="two tasks dispatched")

        (derived,) = await orchestration_events(js, subjects.TASKS_DERIVED)
        tasks = derived.payload.tasks
        assert [t.task_id for t in tasks] == ["PL-1-T1", "PL-1-T2"] and derived.payload.attempts == 1
        assert derived.correlation_id == approval.correlation_id

        completed = await orchestration_events(js, subjects.DELIBERATION_COMPLETED)
        dispatched = await orchestration_events(js, subjects.TASK_DISPATCHED)
        assert sorted(e.payload.task_id for e in completed) == ["PL-1-T1", "PL-1-T2"]
        for envelope in completed:
            result = envelope.payload
            assert isinstance(result, DeliberationCompleted)
            task = next(t for t in tasks if t.task_id == result.task_id)
            assert result.role is task.role and result.story_id == "US-1" and result.plan_id == "PL-1"
            prefix = task.role.value.lower()
            assert result.agents == [f"{prefix}-1", f"{prefix}-2", f"{prefix}-3"]
            assert len(result.proposals) == 3 and all(p.revision == 1 for p in result.proposals)
            assert all(len(p.critiques) == 1 for p in result.proposals)
            assert len([s for s in result.scores if s.aggregate]) == 3
            assert result.winner_agent_id != f"{prefix}-2", "the broken artifact must not win"
            assert result.decisions and f"beat {prefix}-2" in result.decisions[0].rationale
            assert not result.failures
            (dispatch,) = [d.payload for d in dispatched if d.payload.task_id == result.task_id]
            assert dispatch == TaskDispatched(
                task_id=result.task_id,
                story_id="US-1",
                role=result.role,
                agent_id=result.winner_agent_id,
                deliberation_id=result.deliberation_id,
                proposal_id=result.winner_proposal_id,
            )
        assert worker.kinds() == Counter(derive=1, generate=6, critique=6, revise=6, score=12)

        # The same approval again (a redelivery past the duplicate window has a new message id):
        # nothing new is derived or deliberated.
        await publish_approval(js, story_id="US-1", plan_id="PL-1", roles=[Role.DEV, Role.QA])
        await eventually(
            lambda: consumer_drained(js, "PLANNING_EVENTS", "orchestrator-plan-approved"), what="drained"
        )
        assert worker.kinds()["derive"] == 1
        assert await count(js, subjects.DELIBERATION_COMPLETED) == 2


async def _count_is(js, subject: str, expected: int) -> bool:
    return await count(js, subject) >= expected


async def test_an_unusable_derivation_is_repaired_then_a_hopeless_one_fails(nats_server, nc, js) -> None:
    script = Script(derive_outputs=[CYCLIC])
    async with (
        ScriptedWorker(nc, script) as worker,
        RunningOrchestrator(nats_server.url, fast_councils(agents=1)),
    ):
        await publish_approval(js, story_id="US-2", plan_id="PL-2", roles=[Role.DEV, Role.QA])
        await eventually(
            lambda: _count_is(js, subjects.TASKS_DERIVED, 1), what="tasks derived on the 2nd try"
        )
        (derived,) = await orchestration_events(js, subjects.TASKS_DERIVED)
        assert derived.payload.attempts == 2
        derives = [c for c in worker.commands if c.kind == "derive"]
        assert len(derives) == 2 and "dependency cycle" in derives[1].inputs["feedback"]
        assert derives[1].inputs["previous_answer"] == CYCLIC

        script.derive_outputs = [CYCLIC] * 10
        await publish_approval(js, story_id="US-3", plan_id="PL-3", roles=[Role.DEV])
        await eventually(lambda: _count_is(js, subjects.TASK_DERIVATION_FAILED, 1), what="derivation failed")
        (failed,) = await orchestration_events(js, subjects.TASK_DERIVATION_FAILED)
        assert failed.payload.plan_id == "PL-3" and failed.payload.attempts == 3
        assert "no usable tasks after 3 attempt(s)" in failed.payload.reason
        assert "attempt 1: unusable answer" in failed.payload.reason


async def test_a_silent_agent_is_recorded_after_the_deadline_and_the_council_goes_on(
    nats_server, nc, js
) -> None:
    script = Script(silent=lambda command: command.agent_id == "dev-3" and command.kind == "generate")
    async with ScriptedWorker(nc, script), RunningOrchestrator(nats_server.url, fast_councils(deadline=2.0)):
        await publish_approval(js, story_id="US-4", plan_id="PL-4", roles=[Role.DEV])
        await eventually(lambda: _count_is(js, subjects.TASK_DISPATCHED, 2), what="both tasks dispatched")
        for envelope in await orchestration_events(js, subjects.DELIBERATION_COMPLETED):
            result = envelope.payload
            assert [(f.agent_id, f.phase) for f in result.failures] == [("dev-3", "generate")]
            assert "no answer within 2s" in result.failures[0].error
            assert result.winner_agent_id in {"dev-1", "dev-2"}
            assert {p.agent_id for p in result.proposals} == {"dev-1", "dev-2"}


async def test_a_council_that_all_fails_ends_with_a_failure_event(nats_server, nc, js) -> None:
    script = Script(failing=lambda command: command.kind == "generate")
    async with ScriptedWorker(nc, script), RunningOrchestrator(nats_server.url, fast_councils()):
        await publish_approval(js, story_id="US-5", plan_id="PL-5", roles=[Role.DEV])
        await eventually(
            lambda: _count_is(js, subjects.DELIBERATION_FAILED, 2), what="both deliberations failed"
        )
        for envelope in await orchestration_events(js, subjects.DELIBERATION_FAILED):
            assert len(envelope.payload.failures) == 3 and "no proposal is left" in envelope.payload.reason
        assert await count(js, subjects.DELIBERATION_COMPLETED) == 0


async def test_a_story_moved_back_to_draft_cancels_its_deliberations(nats_server, nc, js) -> None:
    script = Script(silent=lambda command: command.kind == "critique")  # hold them in the critique phase
    async with ScriptedWorker(nc, script) as worker, RunningOrchestrator(nats_server.url, fast_councils()):
        await publish_approval(js, story_id="US-6", plan_id="PL-6", roles=[Role.DEV])

        async def critiquing() -> bool:
            return worker.kinds()["critique"] == 6

        await eventually(critiquing, what="both deliberations in their critique phase")
        moved = StoryTransitioned(
            story_id="US-6", from_state=StoryState.PLANNED, to_state=StoryState.DRAFT, transitioned_by="po"
        )
        await EventPublisher(js, "planning-test").publish(subjects.STORY_TRANSITIONED, moved)
        await eventually(lambda: _count_is(js, subjects.DELIBERATION_CANCELLED, 2), what="both cancelled")
        for envelope in await orchestration_events(js, subjects.DELIBERATION_CANCELLED):
            assert envelope.payload.story_state is StoryState.DRAFT
            assert "moved from PLANNED to DRAFT by po" in envelope.payload.reason
        assert await count(js, subjects.DELIBERATION_COMPLETED) == 0
        assert worker.kinds()["revise"] == 0


async def fleet(url: str, *args: str) -> tuple[int, str, str]:
    """The real `fleet` CLI in a child process (it runs its own event loop)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "swe_fleet.cli",
        "--nats-url",
        url,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_fleet_deliberations_lists_and_shows_what_the_councils_did(nats_server, nc, js) -> None:
    code, _, err = await fleet(nats_server.url, "deliberations", "ls")
    assert code != 0 and err.strip().startswith("fleet: no orchestrator state") and len(err.splitlines()) == 1
    async with ScriptedWorker(nc), RunningOrchestrator(nats_server.url, fast_councils(agents=2)):
        await publish_approval(js, story_id="US-7", plan_id="PL-7", roles=[Role.DEV])
        await eventually(lambda: _count_is(js, subjects.TASK_DISPATCHED, 2), what="both tasks dispatched")
    code, out, _ = await fleet(nats_server.url, "deliberations", "ls", "--story", "US-7", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["deliberation"] for r in rows] == ["dlb-PL-7-T1", "dlb-PL-7-T2"]
    assert all(r["status"] == "completed" and r["winner"] in {"dev-1", "dev-2"} for r in rows)
    code, out, _ = await fleet(nats_server.url, "deliberations", "show", "dlb-PL-7-T1")
    assert code == 0 and "status completed" in out and "outcome: " in out and "proposals" in out
    code, _, err = await fleet(nats_server.url, "deliberations", "show", "nope")
    assert code == 4 and err.strip() == "fleet: no deliberation 'nope' (see `fleet deliberations ls`)"


async def test_a_fleet_verify_probe_goes_to_a_worker_without_deriving_tasks(nats_server, nc, js) -> None:
    async with ScriptedWorker(nc, Script()) as worker, RunningOrchestrator(nats_server.url, fast_councils()):
        await publish_approval(js, story_id="probe-story-x", plan_id="probe-plan-x", roles=[Role.DEV])
        # The same durable, in order: once the real plan after it is derived, the probe was handled.
        await publish_approval(js, story_id="US-real", plan_id="PL-real", roles=[Role.DEV])
        await eventually(lambda: _count_is(js, subjects.TASKS_DERIVED, 1), what="the real plan derived")
        await eventually(
            lambda: consumer_drained(js, "PLANNING_EVENTS", "orchestrator-plan-approved"), what="both acked"
        )
    assert worker.kinds()["derive"] == 1  # the real story's, none for the probe
    assert worker.kinds()["probe"] == 1  # the probe goes on to a worker instead
    (derived,) = await orchestration_events(js, subjects.TASKS_DERIVED)
    assert derived.payload.story_id == "US-real"
