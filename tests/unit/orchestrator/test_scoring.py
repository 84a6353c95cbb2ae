"""Selection: the best total wins, ties break deterministically, arrival order never matters."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.events.agent_protocol import RubricCriterion, RubricScores
from swe_fleet.orchestrator.domain.checks import CheckOutcome
from swe_fleet.orchestrator.domain.council import ScoringWeights
from swe_fleet.orchestrator.domain.scoring import Candidate, JudgeScore, judge_score, rank, select

RUBRIC = [
    RubricCriterion(criterion="correctness", description="d", weight=3),
    RubricCriterion(criterion="simplicity", description="d", weight=1),
]
WEIGHTS = ScoringWeights(judges=0.6, checks=0.4)


def candidate(agent: str, passed: list[bool], judge_totals: list[float]) -> Candidate:
    outcomes = tuple(CheckOutcome(f"c{i}", ok, "") for i, ok in enumerate(passed))
    scores = tuple(JudgeScore(f"j{i}", agent, (), total) for i, total in enumerate(judge_totals))
    return Candidate(
        agent_id=agent, proposal_id=f"p.{agent}", revision=1, checks=outcomes, judge_scores=scores
    )


def test_judge_scores_are_rubric_weighted_and_ignore_unknown_criteria() -> None:
    answer = RubricScores.model_validate(
        {
            "scores": [
                {"criterion": "Correctness", "score": 8},
                {"criterion": "simplicity", "score": 4},
                {"criterion": "vibes", "score": 10},
            ]
        }
    )
    score = judge_score("a", "b", answer, RUBRIC)
    assert score is not None and score.total == (8 * 3 + 4 * 1) / 4
    assert [c.criterion for c in score.criteria] == ["correctness", "simplicity"]
    nothing = RubricScores.model_validate({"scores": [{"criterion": "vibes", "score": 10}]})
    assert judge_score("a", "b", nothing, RUBRIC) is None


def test_failed_checks_can_outweigh_kind_judges() -> None:
    selection = select(
        [candidate("a", [False, False, True], [9.0]), candidate("b", [True, True, True], [7.0])], WEIGHTS
    )
    assert selection.winner.agent_id == "b"
    assert "It beat a by" in selection.rationale and "it failed c0, c1" in selection.rationale


def test_an_unjudged_proposal_gets_the_mean_of_the_others() -> None:
    ranked = {
        r.agent_id: r for r in rank([candidate("a", [True], []), candidate("b", [True], [6.0])], WEIGHTS)
    }
    assert ranked["a"].judges == 6.0 and ranked["a"].judges_imputed
    alone = rank([candidate("a", [True, False], [])], WEIGHTS)[0]
    assert alone.judges is None and alone.total == 5.0


def test_a_tie_goes_to_checks_then_judges_then_agent_id() -> None:
    tied = select([candidate("b", [True], [5.0]), candidate("a", [True], [5.0])], WEIGHTS)
    assert tied.winner.agent_id == "a" and "first agent id in order" in tied.rationale


candidates = st.lists(
    st.builds(
        candidate,
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.lists(st.booleans(), min_size=1, max_size=6),
        st.lists(st.integers(min_value=0, max_value=10).map(float), max_size=3),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda c: c.agent_id,
)


@given(candidates, st.randoms())
def test_selection_ignores_arrival_order_and_picks_a_maximum(pool: list[Candidate], rng) -> None:
    first = select(pool, WEIGHTS)
    shuffled = list(pool)
    rng.shuffle(shuffled)
    second = select(shuffled, WEIGHTS)
    assert first.winner.agent_id == second.winner.agent_id
    assert first.rationale == second.rationale
    assert first.winner.total == max(r.total for r in first.ranking)
    assert all(0.0 <= r.total <= 10.0 for r in first.ranking)
    assert first.winner.agent_id in {c.agent_id for c in pool}
