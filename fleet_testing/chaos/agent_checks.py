"""The checker's agent path: tasks, deliberations, dispatches and agent traffic against their events.

The events that decide (TasksDerived, DeliberationCompleted|Failed|Cancelled, TaskDispatched, read
once each from ORCHESTRATOR_EVENTS by event id) are the truth here, and each effect must match them:

- every derived task ends its deliberation exactly once (one terminal event id), and is dispatched at
  most once, only after a completed deliberation, to that deliberation's winner;
- the graph holds one Task per derived task, with the status its latest event decides (the
  projection's own ordering: occurred_at, then the task's stage), one Deliberation per ended
  deliberation with that event's outcome and winner, one TaskDispatch per dispatch event;
- the orchestrator's KV holds each deliberation with the event's status and winner;
- AGENT_COMMANDS / AGENT_RESPONSES: no command answered under two different response ids (a worker's
  answer id is derived from the command) and no answer to a command never sent; the counts of
  commands, answered commands and extra copies are reported.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from nats.js import JetStreamContext

from fleet_testing.chaos.checker import Findings, GraphReader, StreamEvent, StreamScan, _compare
from swe_fleet.events import subjects
from swe_fleet.orchestrator.adapters.state_store import StateStore
from swe_fleet.orchestrator.domain import ids

# The projection's stage order of a task's life (swe_fleet.context.domain.projections.TASK_STAGES).
STAGES = ("DERIVED", "DELIBERATED", "FAILED", "CANCELLED", "DISPATCHED")
ENDINGS = {
    subjects.DELIBERATION_COMPLETED: ("completed", "DELIBERATED"),
    subjects.DELIBERATION_FAILED: ("failed", "FAILED"),
    subjects.DELIBERATION_CANCELLED: ("cancelled", "CANCELLED"),
}
EPOCH = datetime.min


async def check_agent_path(
    js: JetStreamContext, graph: GraphReader, scan: StreamScan, bucket: str, findings: Findings
) -> None:
    tasks = _derived_tasks(scan, findings)
    endings = _deliberation_endings(tasks, scan, findings)
    dispatches = _dispatches(tasks, endings, scan, findings)
    await _check_task_nodes(graph, tasks, endings, dispatches, findings)
    await _check_deliberation_nodes(graph, endings, findings)
    await _check_deliberation_state(js, bucket, endings, findings)
    _check_agent_traffic(scan, findings)
    outcomes = Counter(ENDINGS[event.subject][0] for event in endings.values())
    findings.agent_summary = (
        f"{len(tasks)} tasks derived; deliberations {dict(sorted(outcomes.items()))}; "
        f"{len(dispatches)} dispatched; {findings.agent_commands} agent commands, "
        f"{findings.agent_responses} answered once each"
    )


def derivation_endings(approved: set[str], scan: StreamScan, findings: Findings) -> set[str]:
    """Each approved plan's derivation ends once: TasksDerived or TaskDerivationFailed (failed or
    cancelled). Returns the plans whose derivation ended without tasks."""
    ends: dict[str, list[str]] = defaultdict(list)
    for subject in (subjects.TASKS_DERIVED, subjects.TASK_DERIVATION_FAILED):
        for event in scan.of(subject):
            ends[event.payload["plan_id"]].append(subject.rsplit(".", 1)[-1])
    for plan_id in sorted(approved - set(ends)):
        findings.lost.append(f"agents: the derivation of approved plan {plan_id} never ended")
    for plan_id, kinds in sorted(ends.items()):
        if len(kinds) > 1:
            findings.duplicated.append(
                f"agents: the derivation of {plan_id} ended {len(kinds)} times {kinds}"
            )
        if plan_id not in approved:
            findings.duplicated.append(f"agents: a derivation of {plan_id}, a plan never approved")
    return {e.payload["plan_id"] for e in scan.of(subjects.TASK_DERIVATION_FAILED)}


def _derived_tasks(scan: StreamScan, findings: Findings) -> dict[str, StreamEvent]:
    """Task id -> the TasksDerived event that created it (one derivation event per plan)."""
    per_plan = Counter(event.payload["plan_id"] for event in scan.of(subjects.TASKS_DERIVED))
    for plan_id, count in sorted(per_plan.items()):
        if count > 1:
            findings.duplicated.append(f"agents: plan {plan_id} derived {count} times (distinct event ids)")
    return {
        task["task_id"]: event for event in scan.of(subjects.TASKS_DERIVED) for task in event.payload["tasks"]
    }


def _deliberation_endings(
    tasks: dict[str, StreamEvent], scan: StreamScan, findings: Findings
) -> dict[str, StreamEvent]:
    """Deliberation id -> its one terminal event."""
    ended: dict[str, list[StreamEvent]] = defaultdict(list)
    for subject in ENDINGS:
        for event in scan.of(subject):
            ended[event.payload["deliberation_id"]].append(event)
    owed = {ids.deliberation_id(task_id) for task_id in tasks}
    for deliberation_id in sorted(owed - set(ended)):
        findings.lost.append(f"agents: deliberation {deliberation_id} never ended")
    for deliberation_id, events in sorted(ended.items()):
        if deliberation_id not in owed:
            findings.duplicated.append(
                f"agents: deliberation {deliberation_id} ended, no task derived for it"
            )
        if len(events) > 1:
            outcomes = [ENDINGS[e.subject][0] for e in events]
            findings.duplicated.append(
                f"agents: deliberation {deliberation_id} ended {len(events)} times {outcomes}"
            )
    return {d: events[0] for d, events in ended.items()}


def _dispatches(
    tasks: dict[str, StreamEvent], endings: dict[str, StreamEvent], scan: StreamScan, findings: Findings
) -> dict[str, StreamEvent]:
    """Task id -> its dispatch, which only a completed deliberation makes, to its winner."""
    by_task: dict[str, list[StreamEvent]] = defaultdict(list)
    for event in scan.of(subjects.TASK_DISPATCHED):
        by_task[event.payload["task_id"]].append(event)
    for task_id, events in sorted(by_task.items()):
        ending = endings.get(ids.deliberation_id(task_id))
        if len(events) > 1:
            findings.duplicated.append(f"agents: task {task_id} dispatched {len(events)} times")
        if ending is None or ending.subject != subjects.DELIBERATION_COMPLETED:
            findings.wrong.append(f"agents: task {task_id} dispatched without a completed deliberation")
        elif events[0].payload["agent_id"] != ending.payload["winner_agent_id"]:
            findings.wrong.append(
                f"agents: task {task_id} dispatched to {events[0].payload['agent_id']}, "
                f"not the winner {ending.payload['winner_agent_id']}"
            )
    for task_id in sorted(tasks):
        ending = endings.get(ids.deliberation_id(task_id))
        if (
            ending is not None
            and ending.subject == subjects.DELIBERATION_COMPLETED
            and task_id not in by_task
        ):
            findings.lost.append(
                f"agents: task {task_id} won by {ending.payload['winner_agent_id']}, never dispatched"
            )
    return {task_id: events[0] for task_id, events in by_task.items()}


def expected_task_status(
    derived: StreamEvent, ending: StreamEvent | None, dispatch: StreamEvent | None
) -> str:
    """The status the projection must show: the latest of the task's events, by time then stage."""
    candidates = [(derived, "DERIVED")]
    if ending is not None:
        candidates.append((ending, ENDINGS[ending.subject][1]))
    if dispatch is not None:
        candidates.append((dispatch, "DISPATCHED"))
    _, status = max(candidates, key=lambda c: (c[0].at or EPOCH, STAGES.index(c[1]), c[0].event_id))
    return status


async def _check_task_nodes(
    graph: GraphReader,
    tasks: dict[str, StreamEvent],
    endings: dict[str, StreamEvent],
    dispatches: dict[str, StreamEvent],
    findings: Findings,
) -> None:
    rows = await graph.rows("MATCH (t:Task) RETURN t.id AS id, t.status AS status")
    _compare("Task", set(tasks), [row["id"] for row in rows], findings)
    for row in rows:
        derived = tasks.get(row["id"])
        if derived is None:
            continue
        want = expected_task_status(
            derived, endings.get(ids.deliberation_id(row["id"])), dispatches.get(row["id"])
        )
        if row["status"] != want:
            findings.wrong.append(f"Task {row['id']} is {row['status']}, not {want}")
    nodes = await graph.rows("MATCH (d:TaskDispatch) RETURN d.id AS id")
    _compare(
        "TaskDispatch", {f"TD-{e.event_id}" for e in dispatches.values()}, [r["id"] for r in nodes], findings
    )


async def _check_deliberation_nodes(
    graph: GraphReader, endings: dict[str, StreamEvent], findings: Findings
) -> None:
    rows = await graph.rows(
        "MATCH (d:Deliberation) RETURN d.id AS id, d.outcome AS outcome, "
        "d.winner_agent_id AS agent, d.winner_proposal_id AS proposal"
    )
    _compare("Deliberation", set(endings), [row["id"] for row in rows], findings)
    for row in rows:
        ending = endings.get(row["id"])
        if ending is None:
            continue
        outcome = ENDINGS[ending.subject][0]
        winner = _winner(ending)
        found = (row["outcome"], row["agent"] or None, row["proposal"] or None)
        if found != (outcome, *winner):
            findings.wrong.append(f"Deliberation {row['id']} is {found}, its event says {(outcome, *winner)}")


def _winner(ending: StreamEvent) -> tuple[Any, Any]:
    payload = ending.payload
    return payload.get("winner_agent_id"), payload.get("winner_proposal_id")


async def _check_deliberation_state(
    js: JetStreamContext, bucket: str, endings: dict[str, StreamEvent], findings: Findings
) -> None:
    store = await StateStore.open(js, bucket)
    for deliberation_id, ending in sorted(endings.items()):
        state = await store.deliberation(deliberation_id)
        outcome = ENDINGS[ending.subject][0]
        if state is None:
            findings.lost.append(f"orchestrator: no state of deliberation {deliberation_id}")
            continue
        winner = _winner(ending)[0]
        if (state.status.value, state.winner) != (outcome, winner):
            findings.wrong.append(
                f"orchestrator: deliberation {deliberation_id} is {state.status.value} won by "
                f"{state.winner}, its event says {outcome} won by {winner}"
            )


def _check_agent_traffic(scan: StreamScan, findings: Findings) -> None:
    """No command answered under two response ids; counts for the report."""
    commands = {e.payload["command_id"] for e in scan.events.values() if e.subject.startswith("agent.cmd.")}
    answers: dict[str, set[str]] = defaultdict(set)
    for event in scan.events.values():
        if event.subject.startswith("agent.response."):
            answers[event.payload["command_id"]].add(event.event_id)
    for command_id, event_ids in sorted(answers.items()):
        if len(event_ids) > 1:
            findings.duplicated.append(f"agents: command {command_id} answered {len(event_ids)} times")
        if command_id not in commands:
            findings.wrong.append(f"agents: an answer to {command_id}, a command never sent")
    findings.agent_commands = len(commands)
    findings.agent_responses = len(answers)
