"""A story's token budget: what a council would cost, and whether it may start, cut down, or must wait.

Before a deliberation starts the orchestrator estimates its cost from the council's configuration:
every command the protocol sends (per seat: one generate, a critique and a revise per round, and one
score per judge) at the council's per-call token budget. It sets that against what the story has
already committed (tokens spent, plus what running councils may still spend) and the story's budget:

- it fits: the council runs as configured;
- it does not: the council is cut, fewer rounds first (down to one), then fewer seats (down to one);
- even one agent with one round would overspend: the deliberation waits for the Product Owner, with
  the figures as its reason. It never starts on a budget it would exceed.

A budget of None means no budget: every council runs as configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from swe_fleet.events.payloads import AgentResponse, AgentResponseCompleted, AgentResponseFailed
from swe_fleet.orchestrator.domain.council import Council


def answer_tokens(response: AgentResponse) -> int:
    """Prompt plus completion tokens an answer reports (a failed one too: its calls were paid for)."""
    usage = response.usage if isinstance(response, AgentResponseCompleted | AgentResponseFailed) else None
    return usage.prompt_tokens + usage.completion_tokens if usage is not None else 0


def effective_judges(agents: int, judges_per_proposal: int) -> int:
    """Judges per proposal: peers only (at most agents-1), and the author alone in a council of one."""
    return max(1, min(judges_per_proposal, agents - 1))


def council_commands(agents: int, rounds: int, judges_per_proposal: int) -> int:
    """Commands a council sends when every agent answers: generate + (critique + revise) x rounds + scores."""
    return agents * (1 + 2 * rounds + effective_judges(agents, judges_per_proposal))


def estimate_tokens(council: Council) -> int:
    """What a council may spend: every command at the council's per-call token budget."""
    return (
        council_commands(council.agents, council.rounds, council.judges_per_proposal) * council.token_budget
    )


class Verdict(StrEnum):
    FULL = "full"  # runs as configured (or there is no budget)
    CUT = "cut"  # runs with fewer rounds or agents
    WAIT = "wait"  # not even the smallest council fits: waits for the Product Owner


@dataclass(frozen=True)
class BudgetDecision:
    verdict: Verdict
    council: Council  # the council to run (the configured one when waiting: what it will need)
    estimate: int  # tokens the chosen council may spend (the smallest council's, when waiting)
    budget: int | None
    committed: int
    reason: str = ""

    @property
    def starts(self) -> bool:
        return self.verdict is not Verdict.WAIT


def _smaller_councils(council: Council) -> Iterator[Council]:
    """The configured council, then fewer rounds, then fewer seats: the most deliberation first.

    Rounds are cut down to one, not to none: a council configured with critique keeps it.
    """
    for agents in range(council.agents, 0, -1):
        for rounds in range(council.rounds, min(council.rounds, 1) - 1, -1):
            yield council.model_copy(update={"agents": agents, "rounds": rounds})


def decide(council: Council, *, budget: int | None, committed: int) -> BudgetDecision:
    """Whether (and how big) a council may start when the story has `committed` tokens of `budget`."""
    full = estimate_tokens(council)
    if budget is None:
        return BudgetDecision(Verdict.FULL, council, full, None, committed)
    room = budget - committed
    for candidate in _smaller_councils(council):
        cost = estimate_tokens(candidate)
        if cost > room:
            continue
        if candidate == council:
            return BudgetDecision(Verdict.FULL, council, cost, budget, committed)
        reason = (
            f"cut to {candidate.agents} agent(s) x {candidate.rounds} round(s): the council as configured "
            f"({council.agents} x {council.rounds}) needs up to {full} tokens and the story has "
            f"{max(room, 0)} of its {budget} left"
        )
        return BudgetDecision(Verdict.CUT, candidate, cost, budget, committed, reason)
    smallest = council.model_copy(update={"agents": 1, "rounds": min(council.rounds, 1)})
    need = estimate_tokens(smallest)
    reason = (
        f"waiting for the Product Owner: the story has committed {committed} of its {budget} tokens and "
        f"even one agent with one round needs up to {need}; raise the story's token budget to at least "
        f"{committed + need} to go on"
    )
    return BudgetDecision(Verdict.WAIT, council, need, budget, committed, reason)


@dataclass(frozen=True)
class CouncilCost:
    """One of the story's deliberations as the budget sees it."""

    spent: int  # tokens its answers reported
    estimate: int  # what its council may spend in all
    running: bool  # still deliberating (it may spend up to its estimate)


def committed_tokens(derivation_spent: int, councils: Iterable[CouncilCost]) -> int:
    """Spent so far, plus what running councils may still spend (a waiting one has spent nothing)."""
    total = derivation_spent
    for cost in councils:
        total += max(cost.spent, cost.estimate) if cost.running else cost.spent
    return total
