"""Scoring and selection: judges' rubric scores and objective checks combined into one total per proposal.

total = (w_judges * judges + w_checks * checks) / (w_judges + w_checks), each part on 0..10:
- judges: the mean over the proposal's judges of each judge's rubric-weighted mean score;
- checks: the weighted share of applicable objective checks that passed.
A proposal no judge scored (every judge failed) gets the mean of the other proposals' judge parts,
so a dead judge neither helps nor hurts it; if nobody was judged, totals are the checks alone.
The best total wins; ties go to the better checks, then the better judges, then the agent id, so
the same inputs always select the same proposal, in whatever order they arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from swe_fleet.events.agent_protocol import RubricCriterion, RubricScores
from swe_fleet.events.payloads import CriterionScore
from swe_fleet.orchestrator.domain.checks import CheckOutcome, objective_score
from swe_fleet.orchestrator.domain.council import ScoringWeights, criterion_key

PRECISION = 4  # totals are compared at this many decimals: float noise never decides a winner


@dataclass(frozen=True)
class JudgeScore:
    judge: str
    author: str
    criteria: tuple[CriterionScore, ...]
    total: float


def judge_score(
    judge: str, author: str, answer: RubricScores, rubric: Sequence[RubricCriterion]
) -> JudgeScore | None:
    """One judge's answer against the rubric; None when it scored none of the rubric's criteria."""
    by_key = {criterion_key(c.criterion): c for c in rubric}
    matched: dict[str, CriterionScore] = {}
    for item in answer.scores:
        criterion = by_key.get(criterion_key(item.criterion))
        if criterion is None or criterion_key(criterion.criterion) in matched:
            continue
        matched[criterion_key(criterion.criterion)] = CriterionScore(
            criterion=criterion.criterion, score=item.score, weight=criterion.weight, reason=item.reason[:500]
        )
    weight = sum(c.weight for c in matched.values())
    if not matched or weight <= 0:
        return None
    ordered = tuple(matched[key] for key in by_key if key in matched)
    total = sum(c.score * c.weight for c in ordered) / weight
    return JudgeScore(judge=judge, author=author, criteria=ordered, total=round(total, PRECISION))


@dataclass(frozen=True)
class Candidate:
    agent_id: str
    proposal_id: str
    revision: int
    checks: tuple[CheckOutcome, ...]
    judge_scores: tuple[JudgeScore, ...] = ()


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    judges: float | None
    judges_imputed: bool
    objective: float
    total: float

    @property
    def agent_id(self) -> str:
        return self.candidate.agent_id

    def sort_key(self) -> tuple[float, float, float, str]:
        return (-self.total, -self.objective, -(self.judges or 0.0), self.agent_id)

    def describe(self) -> str:
        passed = [c for c in self.candidate.checks if c.applicable and c.passed]
        applicable = [c for c in self.candidate.checks if c.applicable]
        if self.judges is None:
            judged = "no judge scores"
        elif self.judges_imputed:
            judged = f"judges {self.judges:.2f} (imputed: every judge failed)"
        else:
            judged = f"judges {self.judges:.2f} from {len(self.candidate.judge_scores)} judge(s)"
        return (
            f"{self.total:.2f}/10 ({judged}; checks {self.objective:.2f}: "
            f"{len(passed)} of {len(applicable)} passed)"
        )


@dataclass(frozen=True)
class Selection:
    ranking: tuple[Ranked, ...]
    rationale: str = field(default="")

    @property
    def winner(self) -> Ranked:
        return self.ranking[0]


def rank(candidates: Sequence[Candidate], weights: ScoringWeights) -> tuple[Ranked, ...]:
    if not candidates:
        raise ValueError("no candidate proposal to rank")
    judged = {
        c.agent_id: sum(s.total for s in c.judge_scores) / len(c.judge_scores)
        for c in candidates
        if c.judge_scores
    }
    imputed = sum(judged.values()) / len(judged) if judged else None
    ranked = []
    for candidate in candidates:
        objective = round(objective_score(candidate.checks), PRECISION)
        judges = judged.get(candidate.agent_id, imputed)
        if judges is None:
            total = objective
        else:
            total = (weights.judges * judges + weights.checks * objective) / (weights.judges + weights.checks)
        ranked.append(
            Ranked(
                candidate=candidate,
                judges=None if judges is None else round(judges, PRECISION),
                judges_imputed=judges is not None and candidate.agent_id not in judged,
                objective=objective,
                total=round(total, PRECISION),
            )
        )
    return tuple(sorted(ranked, key=Ranked.sort_key))


def select(candidates: Sequence[Candidate], weights: ScoringWeights, *, council_size: int = 0) -> Selection:
    ranking = rank(candidates, weights)
    return Selection(ranking=ranking, rationale=explain(ranking, council_size=council_size))


def explain(ranking: Sequence[Ranked], *, council_size: int = 0) -> str:
    """Why the winner won: its scores, its margin over each other proposal, and how a tie was broken."""
    winner = ranking[0]
    revision = winner.candidate.revision
    lines = [f"{winner.agent_id}'s proposal (revision {revision}) scored {winner.describe()}."]
    if len(ranking) == 1 and council_size == 1:
        lines.append("It was the only proposal: the council has one agent.")
    elif len(ranking) == 1:
        lines.append("It was the only proposal left: every other agent of the council failed or timed out.")
    for other in ranking[1:]:
        margin = winner.total - other.total
        failed = [c.name for c in other.candidate.checks if c.applicable and not c.passed]
        why = f"; it failed {', '.join(failed)}" if failed else ""
        if margin > 0:
            lines.append(f"It beat {other.agent_id} by {margin:.2f}: {other.describe()}{why}.")
        else:
            lines.append(f"It tied with {other.agent_id} at {other.total:.2f}; {_tie_break(winner, other)}.")
    failed_own = [c for c in winner.candidate.checks if c.applicable and not c.passed]
    if failed_own:
        failures = "; ".join(f"{c.name} ({c.detail})" for c in failed_own)
        lines.append(f"Its own failed checks: {failures}.")
    return " ".join(lines)


def _tie_break(winner: Ranked, other: Ranked) -> str:
    if winner.objective != other.objective:
        return f"its checks were better ({winner.objective:.2f} vs {other.objective:.2f})"
    if (winner.judges or 0.0) != (other.judges or 0.0):
        return f"its judges' score was better ({winner.judges or 0.0:.2f} vs {other.judges or 0.0:.2f})"
    return "everything else equal, the first agent id in order wins"
