"""Task derivation validation: usable tasks become TaskSpecs; the rest a precise repair message."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.events.payloads import Role
from swe_fleet.orchestrator.domain.derivation import find_cycle, validate_derived_tasks

ALL_ROLES = list(Role)


def task(
    key: str, *, role: str = "DEV", deps: list[str] | None = None, hours: float = 4, title: str = ""
) -> dict:
    return {
        "key": key,
        "title": title or f"Build {key}",
        "description": f"Do {key}",
        "role": role,
        "estimate_hours": hours,
        "depends_on": deps or [],
    }


def validate(tasks: list[dict], *, plan_roles=(), generation: int = 1, max_hours: float = 80):
    return validate_derived_tasks(
        {"tasks": tasks},
        plan_id="plan-9",
        generation=generation,
        council_roles=ALL_ROLES,
        plan_roles=list(plan_roles),
        max_estimate_hours=max_hours,
    )


def test_valid_tasks_get_deterministic_ids_and_dependencies_first() -> None:
    verdict = validate([task("T2", deps=["T1"]), task("T1", role="QA")])
    assert verdict.ok and not verdict.problems
    assert [t.task_id for t in verdict.tasks] == ["plan-9-T1", "plan-9-T2"]
    assert verdict.tasks[1].depends_on == ["plan-9-T1"]
    assert verdict.tasks[0].role is Role.QA and verdict.tasks[0].key == "T1"
    again = validate([task("T2", deps=["T1"]), task("T1", role="QA")])
    assert again.tasks == verdict.tasks


def test_a_second_generation_gets_other_ids() -> None:
    assert validate([task("T1")], generation=2).tasks[0].task_id == "plan-9-g2-T1"


def test_unknown_and_self_dependencies_are_named() -> None:
    verdict = validate([task("T1", deps=["T1"]), task("T2", deps=["T9"])])
    assert not verdict.ok
    text = verdict.repair_message()
    assert "tasks[0].depends_on: 'T1' depends on itself" in text
    assert "tasks[1].depends_on: 'T9' is not the key of any task (keys: T1, T2)" in text
    assert text.startswith("Your previous answer could not be used:")


def test_a_cycle_is_reported_as_a_path() -> None:
    verdict = validate([task("A", deps=["C"]), task("B", deps=["A"]), task("C", deps=["B"])])
    assert not verdict.ok
    assert "dependency cycle A -> C -> B -> A" in verdict.summary()


def test_duplicates_roles_and_estimates_are_checked() -> None:
    verdict = validate(
        [
            task("T1", title="Same"),
            task("T1", title="same", role="DATA"),
            task("bad key!", hours=120),
        ],
        plan_roles=[Role.DEV, Role.QA],
        max_hours=40,
    )
    problems = [str(p) for p in verdict.problems]
    assert "tasks[1].key: 'T1' is already the key of tasks[0]" in problems
    assert any(p.startswith("tasks[1].title: 'same' repeats the title of tasks[0]") for p in problems)
    assert "tasks[1].role: DATA is not one of the roles that the plan asks for: DEV, QA" in problems
    assert any(p.startswith("tasks[2].key: 'bad key!' must be") for p in problems)
    assert any(p.startswith("tasks[2].estimate_hours: 120 hours is more than the 40") for p in problems)
    assert "role (one of DEV, QA)" in verdict.repair_message()


def test_model_errors_name_the_field() -> None:
    verdict = validate_derived_tasks(
        {"tasks": [{"key": "T1", "title": "x", "role": "WIZARD", "estimate_hours": -1}]},
        plan_id="p",
        generation=1,
        council_roles=ALL_ROLES,
        plan_roles=[],
        max_estimate_hours=80,
    )
    where = {p.where for p in verdict.problems}
    assert {"tasks[0].title", "tasks[0].description", "tasks[0].role", "tasks[0].estimate_hours"} <= where
    assert not validate_derived_tasks(
        {"nothing": 1},
        plan_id="p",
        generation=1,
        council_roles=ALL_ROLES,
        plan_roles=[],
        max_estimate_hours=1,
    ).ok


@st.composite
def dags(draw) -> list[dict]:
    n = draw(st.integers(min_value=1, max_value=12))
    keys = [f"K{i}" for i in range(n)]
    tasks = []
    for i, key in enumerate(keys):
        deps = draw(st.lists(st.sampled_from(keys[:i]), unique=True, max_size=i)) if i else []
        tasks.append(task(key, deps=deps))
    return draw(st.permutations(tasks))


@given(dags())
def test_any_acyclic_plan_is_accepted_in_dependency_order(tasks: list[dict]) -> None:
    verdict = validate(tasks)
    assert verdict.ok
    seen: set[str] = set()
    for spec in verdict.tasks:
        assert set(spec.depends_on) <= seen
        seen.add(spec.task_id)


@given(dags(), st.data())
def test_adding_a_back_edge_is_always_caught(tasks: list[dict], data) -> None:
    with_deps = [t for t in tasks if t["depends_on"]]
    if not with_deps:
        return
    victim = data.draw(st.sampled_from(with_deps))
    ancestor = victim["depends_on"][0]
    for t in tasks:
        if t["key"] == ancestor:
            t["depends_on"] = [*t["depends_on"], victim["key"]]
    verdict = validate(tasks)
    assert not verdict.ok
    cycle = find_cycle({t["key"]: t["depends_on"] for t in tasks})
    assert cycle is not None and cycle[0] == cycle[-1]
    for a, b in itertools.pairwise(cycle):
        assert b in next(t for t in tasks if t["key"] == a)["depends_on"]


def test_too_many_tasks_are_refused_with_the_limit_in_the_repair_message() -> None:
    verdict = validate_derived_tasks(
        {"tasks": [task(f"T{i}") for i in range(1, 5)]},
        plan_id="p",
        generation=1,
        council_roles=ALL_ROLES,
        plan_roles=[],
        max_estimate_hours=80,
        max_tasks=3,
    )
    assert "tasks: 4 tasks; at most 3" in verdict.summary()
    assert "(1 to 3 tasks)" in verdict.repair_message()
