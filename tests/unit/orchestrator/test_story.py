"""Story records: derivation attempts, repairs and failures; transitions that cancel; redeliveries."""

from __future__ import annotations

from swe_fleet.events import subjects
from swe_fleet.events.payloads import (
    AgentResponseCompleted,
    AgentResponseFailed,
    PlanApproved,
    Role,
    StoryState,
    StoryTransitioned,
)
from swe_fleet.orchestrator.domain import story
from swe_fleet.orchestrator.domain.council import load_councils
from swe_fleet.orchestrator.domain.story import DerivationStatus, StoryRecord

COUNCILS = load_councils()
APPROVAL = PlanApproved(
    story_id="story-1",
    plan_id="plan-1",
    approved_by="po",
    roles=[Role.DEV, Role.QA],
    description="Export invoices as CSV",
    acceptance_criteria=["A CSV file is produced"],
)
T0 = 5_000.0


def approve(record: StoryRecord | None = None, *, seq: int = 10, event_id: str = "E1"):
    return story.on_plan_approved(
        record, APPROVAL, event_id=event_id, seq=seq, correlation_id="corr", councils=COUNCILS, now=T0
    )


def reply(record: StoryRecord, output: dict, *, attempt: int = -1) -> AgentResponseCompleted:
    command = record.derivations["plan-1"].attempts[attempt].command_id
    return AgentResponseCompleted(
        command_id=command, kind="derive", story_id="story-1", agent_id="architect-1", output=output
    )


GOOD = {
    "tasks": [
        {"key": "T1", "title": "Write the exporter", "description": "d", "role": "DEV", "estimate_hours": 4},
        {
            "key": "T2",
            "title": "Test the export",
            "description": "d",
            "role": "QA",
            "estimate_hours": 2,
            "depends_on": ["T1"],
        },
    ]
}
CYCLIC = {"tasks": [{**GOOD["tasks"][0], "depends_on": ["T2"]}, GOOD["tasks"][1]]}


def transition(to: StoryState, seq: int, frm: StoryState = StoryState.PLANNED) -> StoryTransitioned:
    return StoryTransitioned(story_id="story-1", from_state=frm, to_state=to, transitioned_by="po")


def test_an_approval_sends_one_derive_command_and_redeliveries_send_none() -> None:
    step = approve()
    (command,) = step.commands
    payload = command.model()
    assert payload.kind == "derive" and payload.role is Role.ARCHITECT and payload.agent_id == "architect-1"
    assert payload.phase == "PLANNED" and payload.inputs["plan"]["description"] == "Export invoices as CSV"
    assert payload.inputs["roles"] == ["DEV", "QA"]
    assert approve(step.state).state == step.state
    assert approve(step.state, seq=11, event_id="E1").state == step.state


def test_a_valid_answer_derives_tasks_once() -> None:
    record = approve().state
    step = story.on_derive_response(record, reply(record, GOOD), councils=COUNCILS, now=T0 + 1)
    derivation = step.state.derivations["plan-1"]
    assert derivation.status is DerivationStatus.DERIVED and derivation.deadline is None
    (event,) = step.events
    assert event.subject == subjects.TASKS_DERIVED
    derived = event.model()
    assert [t.task_id for t in derived.tasks] == ["plan-1-T1", "plan-1-T2"] and derived.attempts == 1
    assert step.state.needs_follow_up()
    again = story.on_derive_response(step.state, reply(record, GOOD), councils=COUNCILS, now=T0 + 2)
    assert again.state == step.state and not again.messages


def test_an_unusable_answer_is_repaired_then_given_up_on() -> None:
    record = approve().state
    step = story.on_derive_response(record, reply(record, CYCLIC), councils=COUNCILS, now=T0 + 1)
    (retry,) = step.commands
    inputs = retry.model().inputs
    assert inputs["attempt"] == 2 and "dependency cycle T1 -> T2 -> T1" in inputs["feedback"]
    assert inputs["previous_answer"] == CYCLIC
    record = step.state
    record = story.on_derive_response(
        record, reply(record, {"tasks": []}), councils=COUNCILS, now=T0 + 2
    ).state
    final = story.on_derive_response(record, reply(record, CYCLIC), councils=COUNCILS, now=T0 + 3)
    (event,) = final.events
    failure = event.model()
    assert event.subject == subjects.TASK_DERIVATION_FAILED and failure.attempts == 3
    assert "attempt 1: unusable answer: tasks: dependency cycle" in failure.reason
    assert "attempt 2: unusable answer: tasks: List should have at least 1 item" in failure.reason
    assert final.state.derivations["plan-1"].status is DerivationStatus.FAILED


def test_silence_and_agent_failures_cost_attempts() -> None:
    record = approve().state
    deadline = story.next_deadline(record)
    assert deadline == T0 + COUNCILS.derivation.deadline_seconds
    assert story.on_deadline(record, councils=COUNCILS, now=deadline - 1).state == record
    record = story.on_deadline(record, councils=COUNCILS, now=deadline).state
    attempts = record.derivations["plan-1"].attempts
    assert len(attempts) == 2 and attempts[0].outcome.startswith("no answer within")
    failure = AgentResponseFailed(
        command_id=attempts[1].command_id,
        kind="derive",
        story_id="story-1",
        agent_id="architect-1",
        error="boom",
    )
    record = story.on_derive_response(record, failure, councils=COUNCILS, now=T0 + 9).state
    assert record.derivations["plan-1"].attempts[1].outcome == "the agent failed: boom"


def test_a_late_valid_answer_to_an_earlier_attempt_is_accepted() -> None:
    record = approve().state
    record = story.on_deadline(record, councils=COUNCILS, now=story.next_deadline(record)).state
    step = story.on_derive_response(record, reply(record, GOOD, attempt=0), councils=COUNCILS, now=T0 + 400)
    assert step.state.derivations["plan-1"].status is DerivationStatus.DERIVED


def test_moving_back_to_draft_cancels_derivations_and_owed_deliberations() -> None:
    record = approve().state
    step = story.on_story_transitioned(record, transition(StoryState.DRAFT, 20), seq=20, now=T0 + 1)
    (event,) = step.events
    assert (
        event.subject == subjects.TASK_DERIVATION_FAILED
        and "moved from PLANNED to DRAFT" in event.model().reason
    )
    assert step.state.derivations["plan-1"].status is DerivationStatus.CANCELLED

    derived = approve().state
    derived = story.on_derive_response(derived, reply(derived, GOOD), councils=COUNCILS, now=T0 + 1).state
    moved = story.on_story_transitioned(
        derived, transition(StoryState.CARRY_OVER, 30), seq=30, now=T0 + 2
    ).state
    assert moved.derivations["plan-1"].cancel_reason and moved.needs_follow_up()


def test_old_or_redelivered_transitions_change_nothing() -> None:
    record = story.on_story_transitioned(
        None, transition(StoryState.READY_FOR_EXECUTION, 40), seq=40, now=T0
    ).state
    assert record.phase is StoryState.READY_FOR_EXECUTION
    assert (
        story.on_story_transitioned(record, transition(StoryState.DRAFT, 39), seq=39, now=T0).state == record
    )
    assert (
        story.on_story_transitioned(record, transition(StoryState.DRAFT, 40), seq=40, now=T0).state == record
    )


def test_a_transition_re_published_under_a_new_sequence_changes_nothing() -> None:
    # Found by the chaos suite: a copy of an old DRAFT move stored again (another msg-id, a higher
    # stream sequence) looked like the newest move, set the phase back and cancelled later work.
    moved_back = story.on_story_transitioned(
        None, transition(StoryState.DRAFT, 10), seq=10, now=T0, event_id="T-draft"
    ).state
    forward = story.on_story_transitioned(
        moved_back, transition(StoryState.PO_REVIEW, 11), seq=11, now=T0, event_id="T-review"
    ).state
    approved = approve(forward, seq=12).state
    copy = story.on_story_transitioned(
        approved, transition(StoryState.DRAFT, 10), seq=13, now=T0, event_id="T-draft"
    )
    assert copy.state == approved and not copy.events
    assert copy.state.phase is StoryState.PO_REVIEW
    assert copy.state.derivations["plan-1"].status is DerivationStatus.DERIVING


def test_an_approval_older_than_a_move_back_is_cancelled_not_started() -> None:
    record = story.on_story_transitioned(None, transition(StoryState.DRAFT, 50), seq=50, now=T0).state
    step = approve(record, seq=45)
    assert not step.commands
    (event,) = step.events
    assert "cancelled" in event.model().reason
    newer = approve(step.state, seq=60, event_id="E2")
    assert len(newer.commands) == 1 and newer.state.derivations["plan-1"].generation == 2
