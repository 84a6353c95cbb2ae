"""Critique and judge rotations: nobody reviews itself while a peer is available; the load is even."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.orchestrator.domain.assignments import critic_for, judges_for

councils = st.integers(min_value=1, max_value=9).map(lambda n: [f"dev-{i}" for i in range(1, n + 1)])


def critique_pairs(seats: list[str], round_number: int) -> list[tuple[str, str]]:
    """(critic, author) for every seat, everyone available."""
    return [(critic_for(seats, author, round_number), author) for author in seats]


def judge_pairs(seats: list[str], count: int, last_round: int) -> list[tuple[str, str]]:
    """(judge, author) for every seat, everyone available, after `last_round` critique rounds."""
    return [
        (judge, author)
        for author in seats
        for judge in judges_for(seats, author, count, last_critic=critic_for(seats, author, last_round))
    ]


@given(councils, st.integers(min_value=1, max_value=6))
def test_critiques_are_a_derangement(council: list[str], round_number: int) -> None:
    pairs = critique_pairs(council, round_number)
    assert sorted(critic for critic, _ in pairs) == sorted(council)
    assert sorted(author for _, author in pairs) == sorted(council)
    if len(council) > 1:
        assert all(critic != author for critic, author in pairs)
    else:
        assert pairs == [(council[0], council[0])]


@given(councils, st.integers(min_value=1, max_value=8), st.integers(min_value=1, max_value=5))
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


@given(councils, st.data())
def test_unavailable_seats_are_skipped_and_self_review_only_without_peers(council: list[str], data) -> None:
    author = data.draw(st.sampled_from(council))
    unavailable = set(data.draw(st.lists(st.sampled_from(council), unique=True)))
    unavailable.discard(author)
    peers_left = [seat for seat in council if seat != author and seat not in unavailable]
    critic = critic_for(council, author, data.draw(st.integers(1, 4)), unavailable)
    judges = judges_for(council, author, data.draw(st.integers(1, 4)), unavailable=unavailable)
    for reviewer in (critic, *judges):
        assert reviewer not in unavailable
        assert (reviewer == author) == (not peers_left)


def test_rounds_rotate_the_peer_that_critiques_an_author() -> None:
    council = ["a", "b", "c", "d"]
    seen = {author: set() for author in council}
    for round_number in (1, 2, 3):
        for critic, author in critique_pairs(council, round_number):
            seen[author].add(critic)
    assert all(len(critics) == 3 for critics in seen.values())


def test_judges_prefer_someone_other_than_the_last_critic() -> None:
    council = ["a", "b", "c"]
    for author in council:
        critic = critic_for(council, author, 1)
        assert judges_for(council, author, 1, last_critic=critic) != [critic]
