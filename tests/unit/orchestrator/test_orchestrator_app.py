"""The Orchestrator's use cases over in-memory ports: idempotency, settling after a crash, cancellation."""

from __future__ import annotations

import pytest

from swe_fleet.backbone.consumer import Delivery
from swe_fleet.errors import TransientError
from swe_fleet.events import subjects
from swe_fleet.events.envelope import Envelope
from swe_fleet.events.payloads import (
    AgentResponse,
    AgentResponseCompleted,
    AgentResponseFailed,
    CommandKind,
    Payload,
    PlanApproved,
    Role,
    StoryState,
    StoryTransitioned,
)
from swe_fleet.orchestrator.app.orchestrator import Orchestrator
from swe_fleet.orchestrator.domain.council import load_councils
from swe_fleet.orchestrator.domain.state_keys import story_key
from tests.unit.orchestrator.fakes import MemoryStateStore, RecordingOutbox

COUNCILS = load_councils().with_overrides(agents=2, rounds=1, deadline_seconds=60)
TASKS = {
    "tasks": [
        {"key": "T1", "title": "Write the exporter", "description": "d", "role": "DEV", "estimate_hours": 4},
        {"key": "T2", "title": "Test the export", "description": "d", "role": "QA", "estimate_hours": 2},
    ]
}


def delivery(subject: str, payload: Payload, *, seq: int = 1, event_id: str | None = None) -> Delivery:
    envelope = Envelope.new(subject, payload, producer="test", event_id=event_id)
    return Delivery(envelope, payload, subject, "STREAM", seq, 1, msg=None)  # type: ignore[arg-type]


def approval(story_id: str = "US-1") -> Delivery[PlanApproved]:
    payload = PlanApproved(
        story_id=story_id,
        plan_id="PL-1",
        approved_by="po",
        roles=[Role.DEV, Role.QA],
        description="Export invoices as CSV",
        acceptance_criteria=["A CSV file is produced"],
    )
    return delivery(subjects.PLAN_APPROVED, payload, seq=7, event_id="01J0000000000000000000APPR")


@pytest.fixture
def world() -> tuple[Orchestrator, MemoryStateStore, RecordingOutbox]:
    store, outbox = MemoryStateStore(), RecordingOutbox()
    return Orchestrator(store, outbox, COUNCILS, clock=lambda: 1_000.0), store, outbox


async def derived(orchestrator: Orchestrator, outbox: RecordingOutbox) -> None:
    await orchestrator.handle_plan_approvals([approval()])
    (command,) = outbox.on(subjects.AGENT_CMD_DERIVE)
    answer = AgentResponseCompleted(
        command_id=command.payload["command_id"],
        kind=CommandKind.DERIVE,
        story_id="US-1",
        agent_id=command.payload["agent_id"],
        output=TASKS,
    )
    await orchestrator.handle_agent_responses([delivery(subjects.AGENT_RESPONSE_COMPLETED, answer)])


async def test_a_plan_approval_asks_for_tasks_once_however_often_it_is_delivered(world) -> None:
    orchestrator, store, outbox = world
    first = approval()
    await orchestrator.handle_plan_approvals([first])
    writes = store.writes
    await orchestrator.handle_plan_approvals([first])  # redelivered: same event, same sequence
    (command,) = outbox.on(subjects.AGENT_CMD_DERIVE)
    assert command.payload["kind"] == CommandKind.DERIVE and command.payload["story_id"] == "US-1"
    assert store.writes == writes, "a redelivery must not change the state"
    record = await store.story("US-1")
    assert record is not None and record.outbox == []


async def test_a_probe_approval_sends_one_probe_command_and_keeps_no_state(world) -> None:
    orchestrator, store, outbox = world
    probe = approval("probe-story-x")
    await orchestrator.handle_plan_approvals([probe])
    await orchestrator.handle_plan_approvals([probe])  # redelivered: the same command, same key
    assert store.values == {}
    (command,) = outbox.published.values()
    assert command.subject == subjects.AGENT_CMD_PROBE
    assert command.payload["kind"] == CommandKind.PROBE and command.payload["story_id"] == "probe-story-x"
    assert command.payload["inputs"] == {"plan_id": "PL-1"} and command.payload["deadline_seconds"] > 0


async def test_a_probe_answer_becomes_a_probe_answered_event_with_the_workers_context(world) -> None:
    orchestrator, store, outbox = world
    answer = AgentResponseCompleted(
        command_id="cmd-probe-1",
        kind=CommandKind.PROBE,
        story_id="probe-story-x",
        agent_id="probe-agent",
        worker_id="worker-7",
        output={"plan_id": "probe-plan-x", "context_version": "12"},
        context_version="12",
    )
    failed = AgentResponseFailed(
        command_id="cmd-probe-2",
        kind=CommandKind.PROBE,
        story_id="probe-story-y",
        agent_id="probe-agent",
        worker_id="worker-8",
        error="expired",
    )
    await orchestrator.handle_agent_responses(
        [
            delivery(subjects.AGENT_RESPONSE_COMPLETED, answer),
            delivery(subjects.AGENT_RESPONSE_FAILED, failed),
        ]
    )
    events = {m.payload["story_id"]: m.payload for m in outbox.on(subjects.PROBE_ANSWERED)}
    assert events["probe-story-x"]["answered"] and events["probe-story-x"]["context_version"] == "12"
    assert (
        events["probe-story-x"]["plan_id"] == "probe-plan-x"
        and events["probe-story-x"]["worker_id"] == "worker-7"
    )
    assert not events["probe-story-y"]["answered"] and events["probe-story-y"]["error"] == "expired"
    assert store.values == {}


async def test_what_a_crash_left_unpublished_is_published_once_by_the_next_settle(world) -> None:
    orchestrator, store, outbox = world
    outbox.unavailable = True
    with pytest.raises(TransientError):
        await orchestrator.handle_plan_approvals([approval()])
    stranded = await store.story("US-1")
    assert stranded is not None and [m.subject for m in stranded.outbox] == [subjects.AGENT_CMD_DERIVE]
    outbox.unavailable = False
    await orchestrator.settle_story("US-1")  # what the sweeper or a redelivery does
    await orchestrator.settle_story("US-1")
    assert len(outbox.on(subjects.AGENT_CMD_DERIVE)) == 1
    settled = await store.story("US-1")
    assert settled is not None and settled.outbox == []
    assert settled.derivations["PL-1"].attempts[-1].command_id == stranded.outbox[0].payload["command_id"]


async def test_derived_tasks_start_one_deliberation_each_and_a_duplicate_answer_changes_nothing(
    world,
) -> None:
    orchestrator, store, outbox = world
    await derived(orchestrator, outbox)
    (tasks_derived,) = outbox.on(subjects.TASKS_DERIVED)
    assert [t["title"] for t in tasks_derived.payload["tasks"]] == ["Write the exporter", "Test the export"]
    generate = outbox.on(subjects.AGENT_CMD_GENERATE)
    assert len(generate) == 4  # two tasks, a council of two each
    assert {m.payload["deliberation_id"] for m in generate} == {"dlb-PL-1-T1", "dlb-PL-1-T2"}
    published, writes = len(outbox.published), store.writes
    await derived(orchestrator, outbox)  # the approval and the answer redelivered
    assert (len(outbox.published), store.writes) == (published, writes)


async def test_a_story_moved_back_cancels_its_deliberations_and_later_answers_are_ignored(world) -> None:
    orchestrator, store, outbox = world
    await derived(orchestrator, outbox)
    moved = StoryTransitioned(
        story_id="US-1", from_state=StoryState.PLANNED, to_state=StoryState.DRAFT, transitioned_by="po"
    )
    await orchestrator.handle_story_transitions([delivery(subjects.STORY_TRANSITIONED, moved, seq=9)])
    cancelled = outbox.on(subjects.DELIBERATION_CANCELLED)
    assert sorted(m.payload["deliberation_id"] for m in cancelled) == ["dlb-PL-1-T1", "dlb-PL-1-T2"]
    assert all(m.payload["story_state"] == "DRAFT" for m in cancelled)
    command = outbox.on(subjects.AGENT_CMD_GENERATE)[0].payload
    late: AgentResponse = AgentResponseFailed(
        command_id=command["command_id"],
        kind=CommandKind.GENERATE,
        story_id="US-1",
        deliberation_id=command["deliberation_id"],
        agent_id=command["agent_id"],
        error="too late",
    )
    before = dict(store.values), len(outbox.published)
    await orchestrator.handle_agent_responses([delivery(subjects.AGENT_RESPONSE_FAILED, late)])
    assert (store.values, len(outbox.published)) == before
    assert store.values[story_key("US-1")] is before[0][story_key("US-1")]
    assert not outbox.on(subjects.DELIBERATION_FAILED) and not outbox.on(subjects.AGENT_CMD_CRITIQUE)
