"""The agent-path checker finds what it claims to find: pure logic over hand-made stream events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleet_testing.chaos import agent_checks
from fleet_testing.chaos.checker import Findings, StreamEvent, StreamScan
from swe_fleet.events import subjects

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def event(subject: str, event_id: str, seconds: float = 0, **payload) -> StreamEvent:
    return StreamEvent(event_id, subject, payload, 1, T0 + timedelta(seconds=seconds))


def scan_of(*events: StreamEvent) -> StreamScan:
    scan = StreamScan()
    scan.events = {e.event_id: e for e in events}
    return scan


DERIVED = event(subjects.TASKS_DERIVED, "e-derived", plan_id="PL-1", tasks=[{"task_id": "PL-1-T1"}])
COMPLETED = event(
    subjects.DELIBERATION_COMPLETED,
    "e-done",
    5,
    deliberation_id="dlb-PL-1-T1",
    winner_agent_id="dev-2",
    winner_proposal_id="dlb-PL-1-T1.dev-2",
)


def test_a_dispatch_to_another_agent_than_the_winner_is_wrong() -> None:
    findings = Findings()
    scan = scan_of(
        DERIVED, COMPLETED, event(subjects.TASK_DISPATCHED, "e-d", 5, task_id="PL-1-T1", agent_id="dev-1")
    )
    tasks = agent_checks._derived_tasks(scan, findings)
    endings = agent_checks._deliberation_endings(tasks, scan, findings)
    agent_checks._dispatches(tasks, endings, scan, findings)
    assert findings.wrong == ["agents: task PL-1-T1 dispatched to dev-1, not the winner dev-2"]


def test_a_deliberation_that_never_ended_is_lost_and_one_that_ended_twice_is_duplicated() -> None:
    findings = Findings()
    failed = event(subjects.DELIBERATION_FAILED, "e-failed", 6, deliberation_id="dlb-PL-1-T1")
    agent_checks._deliberation_endings(
        agent_checks._derived_tasks(scan_of(DERIVED), findings), scan_of(), findings
    )
    assert findings.lost == ["agents: deliberation dlb-PL-1-T1 never ended"]
    twice = scan_of(DERIVED, COMPLETED, failed)
    agent_checks._deliberation_endings(agent_checks._derived_tasks(twice, findings), twice, findings)
    assert findings.duplicated == ["agents: deliberation dlb-PL-1-T1 ended 2 times ['completed', 'failed']"]


def test_a_completed_deliberation_without_its_dispatch_is_lost() -> None:
    findings = Findings()
    scan = scan_of(DERIVED, COMPLETED)
    tasks = agent_checks._derived_tasks(scan, findings)
    agent_checks._dispatches(tasks, agent_checks._deliberation_endings(tasks, scan, findings), scan, findings)
    assert findings.lost == ["agents: task PL-1-T1 won by dev-2, never dispatched"]


def test_the_expected_task_status_is_the_latest_event_by_time_then_stage() -> None:
    dispatched = event(subjects.TASK_DISPATCHED, "e-disp", 5, task_id="PL-1-T1", agent_id="dev-2")
    assert agent_checks.expected_task_status(DERIVED, None, None) == "DERIVED"
    assert agent_checks.expected_task_status(DERIVED, COMPLETED, None) == "DELIBERATED"
    # Published in the same instant as the deliberation's end: the dispatch is the later stage.
    assert agent_checks.expected_task_status(DERIVED, COMPLETED, dispatched) == "DISPATCHED"


def test_a_derivation_that_ends_twice_or_never_is_reported() -> None:
    findings = Findings()
    failed = event(subjects.TASK_DERIVATION_FAILED, "e-f", 3, plan_id="PL-1")
    cancelled = agent_checks.derivation_endings({"PL-1", "PL-2"}, scan_of(DERIVED, failed), findings)
    assert cancelled == {"PL-1"}
    assert findings.lost == ["agents: the derivation of approved plan PL-2 never ended"]
    assert findings.duplicated == [
        "agents: the derivation of PL-1 ended 2 times ['derived', 'derivation_failed']"
    ]


def test_a_command_answered_under_two_ids_is_duplicated() -> None:
    findings = Findings()
    command = event("agent.cmd.generate", "c1", command_id="cmd-1")
    first = event("agent.response.completed", "r1", command_id="cmd-1")
    second = event("agent.response.completed", "r2", command_id="cmd-1")
    agent_checks._check_agent_traffic(scan_of(command, first, second), findings)
    assert findings.duplicated == ["agents: command cmd-1 answered 2 times"]
    assert (findings.agent_commands, findings.agent_responses) == (1, 1)
