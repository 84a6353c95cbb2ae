"""Critique and judge rotations: nobody reviews itself while it has a peer; the load is even."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.orchestrator.domain.assignments import critique_pairs, judge_pairs

agents = st.lists(st.from_regex(r"[a-z]{1,4}-[1-9]", fullmatch=True), min_size=1, max_size=9, unique=True)


@given(agents, st.integers(min_value=1, max_value=6))
def test_critiques_are_a_derangement(council: list[str], round_number: int) -> None:
    pairs = critique_pairs(council, round_number)
    assert sorted(critic for critic, _ in pairs) == sorted(council)
    assert sorted(author for _, author in pairs) == sorted(council)
    if len(council) > 1:
        assert all(critic != author for critic, author in pairs)
    else:
        assert pairs == [(council[0], council[0])]


@given(agents, st.integers(min_value=1, max_value=8), st.integers(min_value=1, max_value=5))
def test_judges_never_judge_themselves_and_share_the_work(
    council: list[str], per_proposal: int, last_round: int
) -> None:
    pairs = judge_pairs(council, per_proposal, last_round)
    n = len(council)
    expected = min(per_proposal, n - 1) if n > 1 else 1
    received = Counter(author for _, author in pairs)
    given_ = Counter(judge for judge, _ in pairs)
    assert set(received) == set(council) and set(received.values()) == {expected}
    assert set(given_.values()) == {expected}
    assert len(set(pairs)) == len(pairs)
    if n > 1:
        assert all(judge != author for judge, author in pairs)


def test_rounds_rotate_the_peer_an_agent_critiques() -> None:
    council = ["a", "b", "c", "d"]
    seen = {critic: set() for critic in council}
    for round_number in (1, 2, 3):
        for critic, author in critique_pairs(council, round_number):
            seen[critic].add(author)
    assert all(len(authors) == 3 for authors in seen.values())


def test_judges_prefer_someone_other_than_the_last_critic() -> None:
    council = ["a", "b", "c"]
    critics = dict((author, critic) for critic, author in critique_pairs(council, 1))
    judges = judge_pairs(council, 1, 1)
    assert all(critics[author] != judge for judge, author in judges)
