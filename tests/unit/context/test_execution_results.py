"""An agent of a later task sees what the workspace did with the tasks it depends on, and with the others."""

from __future__ import annotations

from dataclasses import replace

from swe_fleet.context.domain.assembly import assemble
from swe_fleet.context.domain.model import (
    ContextRequest,
    DispatchFacts,
    ExecutionFacts,
    ReviewFacts,
    TaskFacts,
)
from swe_fleet.context.domain.policy import load_policy
from swe_fleet.tokens import EstimatingCounter

from .factories import story_graph

POLICY = load_policy()


def test_a_dependency_carried_out_and_another_that_failed_are_in_the_pack() -> None:
    graph = story_graph(tasks=3)
    done = ExecutionFacts("completed", "add() adds", None, "fleet/US-1", ("calc.py",), True)
    failed = ExecutionFacts("failed", None, "the tests fail after the change: test_calc.py::test_add")
    tasks = (
        replace(graph.tasks[0], execution=done),
        graph.tasks[1],
        replace(graph.tasks[2], execution=failed),
    )
    graph = replace(graph, tasks=tasks)

    pack = assemble(
        graph, ContextRequest("US-1", "DEV", "IN_PROGRESS", 4000, "T-1"), POLICY, EstimatingCounter()
    )
    text = pack.as_dict()["blocks"]["context"]
    # T-1 depends on T-0: its result is the workspace's, not the council's proposal.
    assert "Depends on T-0: carried out on fleet/US-1 (calc.py), tests pass: add() adds" in text
    assert "carrying it out failed: the tests fail after the change: test_calc.py::test_add" in text


def test_a_rework_is_briefed_with_the_task_it_reworks_its_reason_and_every_review_so_far() -> None:
    graph = story_graph(tasks=3)
    rework = TaskFacts("T-1~3", role="DEV", status="DISPATCHED")
    reason = "the QA review requested changes: strings are not handled"
    graph = replace(
        graph,
        tasks=(*graph.tasks, TaskFacts("T-1~2", role="DEV"), rework),
        dispatches=(
            *graph.dispatches,
            DispatchFacts("T-1~2", "a1", "DEV", "2025-10-16T18:00:00Z", "T-1", "first review"),
            DispatchFacts("T-1~3", "a1", "DEV", "2025-10-16T19:00:00Z", "T-1", reason),
        ),
        reviews=(
            ReviewFacts("T-1", "request_changes", "floats fail", ("add(0.5, 1) == 1.5 fails",), "abc"),
            ReviewFacts("T-1~2", "request_changes", "strings fail", ("add('2', '3') raises",), "def"),
            ReviewFacts("T-2", "request_changes", "another task's review", ()),
        ),
    )
    pack = assemble(
        graph, ContextRequest("US-1", "DEV", "IN_PROGRESS", 4000, "T-1~3"), POLICY, EstimatingCounter()
    )
    text = pack.as_dict()["blocks"]["context"]
    assert f"Rework of T-1: {reason}" in text
    assert "QA review of T-1 (request_changes): floats fail — findings: add(0.5, 1) == 1.5 fails" in text
    assert "QA review of T-1~2 (request_changes): strings fail — findings: add('2', '3') raises" in text
    assert "another task's review" not in text
    assert "T-1~3 — Task 1" in text  # the task reworked gives the attempt its title
