"""GetContext's assembly: the budget is never exceeded, secrets never leave, priorities decide the cuts."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from swe_fleet.context.domain.assembly import assemble, fit_text
from swe_fleet.context.domain.model import ContextRequest
from swe_fleet.context.domain.policy import ScopeDenied, load_policy
from swe_fleet.tokens import EstimatingCounter

from .factories import story_graph

POLICY = load_policy()
ROLES_AND_PHASES = sorted(
    (role, phase.value) for role, rules in POLICY.roles.items() for phase in rules.phases
)


class WordCounter:
    """A tokenizer that is not additive at the seams (a word split by a newline costs more)."""

    name = "words"

    def count(self, text: str) -> int:
        return len(text.split()) + text.count("\n") + (2 if text else 0)

    def count_lines(self, lines):
        return [self.count(line) for line in lines]


class ByteCounter:
    name = "bytes"

    def count(self, text: str) -> int:
        return len(text.encode())

    def count_lines(self, lines):
        return [self.count(line) for line in lines]


COUNTERS = st.sampled_from([EstimatingCounter(), WordCounter(), ByteCounter()])


@settings(max_examples=300, deadline=None)
@given(
    budget=st.one_of(st.integers(0, 40), st.integers(0, 5000)),
    tasks=st.integers(0, 12),
    decisions=st.integers(0, 30),
    role_phase=st.sampled_from(ROLES_AND_PHASES),
    with_task=st.booleans(),
    counter=COUNTERS,
)
def test_the_budget_is_never_exceeded(budget, tasks, decisions, role_phase, with_task, counter):
    role, phase = role_phase
    request = ContextRequest("US-1", role, phase, budget, "T-1" if with_task else None)
    pack = assemble(story_graph(tasks=tasks, decisions=decisions), request, POLICY, counter)
    assert pack.token_count <= budget
    assert pack.token_count == sum(counter.count(text) for text in pack.blocks.values())
    assert set(pack.sections_included).isdisjoint(pack.sections_cut)
    assert set(pack.sections_shortened) <= set(pack.sections_included)


SECRETS = st.text(alphabet=string.ascii_letters + string.digits, min_size=14, max_size=24)


@settings(max_examples=200, deadline=None)
@given(
    value=SECRETS,
    shape=st.sampled_from(
        ["password={}", "api_key: {}", "https://bob:{}@git.example.com", "Bearer {}", "token={}"]
    ),
    budget=st.integers(0, 4000),
    role_phase=st.sampled_from(ROLES_AND_PHASES),
)
def test_a_planted_secret_never_appears_in_any_block(value, shape, budget, role_phase):
    assume(value not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    role, phase = role_phase
    graph = story_graph(tasks=3, decisions=4, text=shape.format(value))
    pack = assemble(graph, ContextRequest("US-1", role, phase, budget, "T-1"), POLICY, EstimatingCounter())
    for text in pack.blocks.values():
        assert value not in text


def test_a_role_outside_the_policy_gets_nothing():
    with pytest.raises(ScopeDenied):
        assemble(
            story_graph(), ContextRequest("US-1", "INTERN", "IN_PROGRESS", 1000), POLICY, EstimatingCounter()
        )


def test_with_room_enough_everything_allowed_is_included():
    pack = assemble(
        story_graph(tasks=3, decisions=3),
        ContextRequest("US-1", "DEV", "IN_PROGRESS", 100_000, "T-1"),
        POLICY,
        EstimatingCounter(),
    )
    assert set(pack.sections_included) == set(POLICY.allowed_sections("DEV", "IN_PROGRESS")) | {"tools"}
    assert pack.sections_cut == () and pack.sections_shortened == ()
    assert "## Your task: T-1" in pack.blocks["context"]
    assert pack.blocks["tools"].startswith("## Tools you may use")
    assert pack.version == 7


def test_a_tight_budget_keeps_the_most_important_sections_and_shortens_rather_than_drops():
    graph = story_graph(tasks=50, decisions=200)
    full = assemble(
        graph, ContextRequest("US-1", "DEV", "IN_PROGRESS", 100_000, "T-1"), POLICY, EstimatingCounter()
    )
    tight = assemble(
        graph,
        ContextRequest("US-1", "DEV", "IN_PROGRESS", full.token_count // 3, "T-1"),
        POLICY,
        EstimatingCounter(),
    )
    assert tight.token_count <= full.token_count // 3
    assert tight.sections_included[:2] == ("story", "task")
    assert tight.sections_shortened  # a big section was shortened, not silently dropped
    assert "more" in tight.blocks["context"]
    assert "phase_history" in tight.sections_cut or "phase_history" in tight.sections_included


def test_decisions_affecting_the_task_come_first():
    graph = story_graph(tasks=4, decisions=12)
    pack = assemble(
        graph, ContextRequest("US-1", "DEV", "IN_PROGRESS", 100_000, "T-2"), POLICY, EstimatingCounter()
    )
    decisions = pack.blocks["context"].split("## Decisions")[1].splitlines()[1:4]
    assert all("[this task]" in line for line in decisions)


def test_a_placeholder_story_says_its_details_are_missing():
    from dataclasses import replace

    graph = story_graph()
    graph = replace(graph, story=replace(graph.story, placeholder=True, title=None))
    pack = assemble(graph, ContextRequest("US-1", "PO", "DRAFT", 10_000), POLICY, EstimatingCounter())
    assert "has not reached the graph yet" in pack.blocks["context"]


@given(st.text(max_size=300), st.integers(-5, 200))
def test_fit_text_never_exceeds_its_limit(text, limit):
    counter = EstimatingCounter()
    fitted = fit_text(text, limit, counter)
    assert counter.count(fitted) <= max(limit, 0)
    assert fitted == text or fitted == "" or fitted.endswith("…")
