"""What a context pack must never hold (facts the scope forbids, superseded decisions as current), what it
must hold first (the task's own facts before background), and the rehydration benchmark's own scoring."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.rehydration import dump, original, score
from bench.rehydration import fleet as fleet_pack
from bench.rehydration_cases import Case, Fact, generate
from swe_fleet.context.domain.assembly import assemble
from swe_fleet.context.domain.model import ContextRequest, DecisionFacts
from swe_fleet.context.domain.policy import load_policy
from swe_fleet.context.domain.tokens import EstimatingCounter

from .factories import story_graph

POLICY = load_policy()
COUNTER = EstimatingCounter()
CASES = generate(12, seed=7)
ROLES_AND_PHASES = sorted(
    (role, phase.value) for role, rules in POLICY.roles.items() for phase in rules.phases
)


def _text(pack) -> str:
    return "\n".join(pack.blocks.values())


def test_the_generated_cases_plant_what_the_checks_look_for():
    assert len(CASES) >= 20
    assert sum(len(case.forbidden) for case in CASES) > 0
    assert sum(len(case.superseded) for case in CASES) > 0
    assert all(case.needed for case in CASES)


@pytest.mark.parametrize("budget", [64, 256, 512, 1024, 2048, 8192, 100_000])
def test_no_forbidden_fact_and_no_superseded_decision_ever_reaches_a_fleet_pack(budget):
    for case in CASES:
        text = "\n".join(fleet_pack(case, budget, POLICY, COUNTER))
        assert not [fact.ref for fact in case.forbidden if fact.ref in text], case.request
        assert not [fact.ref for fact in case.superseded if fact.ref in text], case.request


def test_the_baselines_do_show_them_so_the_check_can_fail():
    budget = 100_000
    leaked = sum(
        fact.ref in "\n".join(original(case, budget, POLICY, COUNTER))
        for case in CASES
        for fact in case.forbidden
    )
    current = sum(
        score(case, original(case, budget, POLICY, COUNTER), budget, COUNTER).superseded_as_current
        for case in CASES
    )
    assert leaked > 0
    assert current > 0


def _superseding_graph():
    graph = story_graph(tasks=4, decisions=6)
    old = DecisionFacts(
        "D-old",
        "Use sessions",
        "OLDRATIONALE cookies",
        "architect",
        "APPROVED",
        "planning",
        "T-1",
        ("T-1",),
        "2025-10-16T17:01:00Z",
        superseded_by="D-new",
        superseded_at="2025-10-16T18:00:00Z",
    )
    new = DecisionFacts(
        "D-new",
        "Use JWT",
        "NEWRATIONALE stateless",
        "architect",
        "APPROVED",
        "planning",
        "T-1",
        ("T-1",),
        "2025-10-16T18:00:00Z",
        supersedes=("D-old",),
    )
    return replace(graph, decisions=(*graph.decisions, old, new))


@settings(max_examples=200, deadline=None)
@given(
    budget=st.integers(0, 6000),
    role_phase=st.sampled_from(ROLES_AND_PHASES),
    task=st.sampled_from([None, "T-0", "T-1", "T-2"]),
)
def test_a_superseded_decision_is_never_in_a_pack(budget, role_phase, task):
    role, phase = role_phase
    pack = assemble(_superseding_graph(), ContextRequest("US-1", role, phase, budget, task), POLICY, COUNTER)
    assert "OLDRATIONALE" not in _text(pack)


def test_the_replacing_decision_says_what_it_replaces():
    request = ContextRequest("US-1", "DEV", "IN_PROGRESS", 100_000, "T-1")
    text = _text(assemble(_superseding_graph(), request, POLICY, COUNTER))
    line = next(line for line in text.splitlines() if "NEWRATIONALE" in line)
    assert "(replaces Use sessions)" in line
    assert "1 superseded not shown" in text


def test_the_tasks_own_facts_come_before_background_in_every_section():
    # A budget that holds the task's facts but not every other task's decisions: the results of the
    # task's dependencies (a lower-priority section) must still be there, other decisions cut.
    case = next(case for case in CASES if len(case.needed) >= 8)
    needed_tokens = sum(COUNTER.count(fact.text) for fact in case.needed)
    budget = needed_tokens * 3
    text = "\n".join(fleet_pack(case, budget, POLICY, COUNTER))
    assert all(fact.text in text for fact in case.needed if fact.kind == "result")
    everything = "\n".join(fleet_pack(case, 1_000_000, POLICY, COUNTER))
    assert sum(fact.ref in everything for fact in case.noise) > sum(fact.ref in text for fact in case.noise)


def _case(needed: list[Fact], noise: list[Fact], superseded: list[Fact]) -> Case:
    return Case(CASES[0].graph, CASES[0].request, needed, noise, [], superseded)


def test_the_score_counts_only_whole_facts_and_superseded_lines_that_do_not_say_so():
    a, b = Fact("[f1]", "[f1] alpha beta gamma", "x"), Fact("[f2]", "[f2] delta epsilon", "x")
    noise, old = Fact("[f3]", "[f3] noise", "n"), Fact("[f4]", "[f4] old decision", "s")
    parts = ["[f1] alpha beta gamma\n[f2] delta…\n[f3] noise", "[f4] old decision (superseded by D-9)"]
    result = score(_case([a, b], [noise], [old]), parts, 100, COUNTER)
    assert result.recall == 0.5
    assert result.noise_share == COUNTER.count("[f3] noise") / 100
    assert result.superseded_as_current == 0
    shown = score(_case([a, b], [noise], [old]), ["[f4] old decision"], 100, COUNTER)
    assert shown.superseded_as_current == 1


@pytest.mark.parametrize("budget", [256, 512, 2048])
def test_the_dump_and_the_fleet_stay_within_the_budget(budget):
    for case in CASES[:10]:
        assert sum(COUNTER.count(part) for part in dump(case, budget, POLICY, COUNTER)) <= budget
        assert sum(COUNTER.count(part) for part in fleet_pack(case, budget, POLICY, COUNTER)) <= budget
