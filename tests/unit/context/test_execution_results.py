"""An agent of a later task sees what the workspace did with the tasks it depends on, and with the others."""

from __future__ import annotations

from dataclasses import replace

from swe_fleet.context.domain.assembly import assemble
from swe_fleet.context.domain.model import ContextRequest, ExecutionFacts
from swe_fleet.context.domain.policy import load_policy
from swe_fleet.context.domain.tokens import EstimatingCounter

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
