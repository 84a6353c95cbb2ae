"""Decision history: validity intervals, the story as of a past instant, and why a decision was taken."""

from __future__ import annotations

from dataclasses import replace

import pytest

from swe_fleet.context.domain.assembly import assemble
from swe_fleet.context.domain.history import BadInstant, as_of, explain, normalise_instant
from swe_fleet.context.domain.model import ContextRequest, DecisionFacts, TransitionFacts
from swe_fleet.context.domain.policy import load_policy
from swe_fleet.tokens import EstimatingCounter

from .factories import story_graph

POLICY = load_policy()
COUNTER = EstimatingCounter()
DECIDED = "2030-01-01T10:00:00.000000Z"
T = "2030-01-01T11:00:00.000000Z"  # the instant D-old is superseded by D-new


def _graph():
    old = DecisionFacts(
        "D-old",
        "Use sessions",
        "OLDWHY server sessions",
        "architect",
        "APPROVED",
        "planning",
        "T-1",
        ("T-1",),
        DECIDED,
        superseded_by="D-new",
        superseded_at=T,
    )
    new = DecisionFacts(
        "D-new",
        "Use JWT",
        "NEWWHY stateless tokens",
        "architect",
        "APPROVED",
        "planning",
        "T-1",
        ("T-1",),
        T,
        supersedes=("D-old",),
    )
    rejected = DecisionFacts(
        "D-alt",
        "Use LDAP",
        "ALTWHY no directory here",
        "architect",
        "REJECTED",
        "planning",
        "T-1",
        ("T-1",),
        DECIDED,
    )
    graph = story_graph(tasks=3, decisions=0)
    return replace(graph, decisions=(old, new, rejected))


def _lines(graph, when: str | None, history: bool = False) -> list[str]:
    request = ContextRequest("US-1", "DEV", "IN_PROGRESS", 100_000, "T-1", when, history)
    return assemble(graph, request, POLICY, COUNTER).blocks["context"].splitlines()


def _current(lines: list[str], marker: str) -> bool:
    return any(marker in line and "SUPERSEDED" not in line for line in lines)


def test_a_decision_superseded_at_t_is_current_before_t_and_superseded_after():
    graph = _graph()
    before = _lines(graph, "2030-01-01T10:59:59.999999Z")
    assert _current(before, "OLDWHY")
    assert not any("NEWWHY" in line for line in before)  # not decided yet
    at_t = _lines(graph, T)
    after = _lines(graph, "2030-01-01T11:00:00.000001Z")
    now = _lines(graph, None)
    for lines in (at_t, after, now):
        assert _current(lines, "NEWWHY")
        assert not any("OLDWHY" in line for line in lines)


def test_the_history_lists_a_superseded_decision_marked_with_what_replaced_it_and_when():
    lines = _lines(_graph(), None, history=True)
    old = next(line for line in lines if "OLDWHY" in line)
    assert old.startswith(f"- [SUPERSEDED by Use JWT at {T}]")
    assert not _current(lines, "OLDWHY")
    earlier = _lines(_graph(), "2030-01-01T10:30:00Z", history=True)
    assert _current(earlier, "OLDWHY")  # as of then, nothing had superseded it


def test_as_of_drops_what_happened_later_and_takes_the_state_of_the_last_transition():
    graph = replace(
        _graph(),
        transitions=(
            TransitionFacts("DRAFT", "PLANNED", "po", None, "2030-01-01T09:00:00.000000Z"),
            TransitionFacts("PLANNED", "IN_PROGRESS", "po", None, "2030-01-01T12:00:00.000000Z"),
        ),
    )
    then = as_of(graph, normalise_instant("2030-01-01T10:30:00Z"))
    assert then.story.state == "PLANNED"
    assert [d.id for d in then.decisions] == ["D-old", "D-alt"]
    assert then.decisions[0].current
    assert len(then.transitions) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-01T11:00:00Z", T),
        ("2030-01-01T12:00:00+01:00", T),
        ("2030-01-01T11:00:00", T),
        ("2030-01-01", "2030-01-01T00:00:00.000000Z"),
    ],
)
def test_instants_are_normalised_to_the_graphs_utc_form(text, expected):
    assert normalise_instant(text) == expected


def test_an_instant_that_is_not_a_date_is_refused_with_a_clear_message():
    with pytest.raises(BadInstant, match="not an ISO 8601 date-time"):
        normalise_instant("last tuesday")


def test_why_gives_the_rationale_chain_both_ways():
    decisions = _graph().decisions
    new = explain("US-1", "D-new", decisions)
    assert [d.id for d in new.supersedes] == ["D-old"]
    assert new.superseded_by is None and new.decision.current
    assert [d.id for d in new.alternatives] == ["D-alt"]
    old = explain("US-1", "D-old", decisions)
    assert old.superseded_by is not None and old.superseded_by.id == "D-new"
    document = old.as_dict()
    assert document["current"] is False
    assert document["decision"]["valid_until"] == T
    with pytest.raises(KeyError):
        explain("US-1", "D-missing", decisions)
