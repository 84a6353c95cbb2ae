"""Starting a deliberation within the story's token budget: as configured, cut down, or waiting for the PO.

A cut or a wait is recorded on the deliberation (`configured`, `budget_note`) and published as
`orchestration.deliberation.budgeted` with the figures, so nobody has to guess why a council of three
ran as one, or why a task has no council yet. A waiting deliberation sends nothing until `resume`
finds the budget raised (or room freed by councils that spent less than they might have).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from swe_fleet.events import subjects
from swe_fleet.events.payloads import DeliberationBudgeted, TaskSpec
from swe_fleet.orchestrator.domain import deliberation
from swe_fleet.orchestrator.domain.budget import BudgetDecision, Verdict, decide
from swe_fleet.orchestrator.domain.council import Council
from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState, Status
from swe_fleet.orchestrator.domain.messages import Outgoing, Step


def start_within_budget(
    *,
    deliberation_id: str,
    story_id: str,
    plan_id: str | None,
    task: TaskSpec,
    acceptance_criteria: Sequence[str],
    council: Council,
    story_phase: str,
    correlation_id: str | None,
    now: float,
    budget: int | None,
    committed: int,
) -> tuple[Step[DeliberationState], BudgetDecision]:
    """The deliberation, started with the council the budget allows, or waiting; and the decision."""
    decision = decide(council, budget=budget, committed=committed)
    step = deliberation.start(
        deliberation_id=deliberation_id,
        story_id=story_id,
        plan_id=plan_id,
        task=task,
        acceptance_criteria=acceptance_criteria,
        council=decision.council,
        story_phase=story_phase,
        correlation_id=correlation_id,
        now=now,
    )
    if decision.verdict is Verdict.FULL:
        return step, decision
    state = step.state
    if decision.verdict is Verdict.WAIT:  # nothing is sent: the commands start() queued are dropped
        state = state.model_copy(
            update={"status": Status.WAITING_FOR_BUDGET, "pending": {}, "progress": {}, "outbox": []}
        )
    state.configured, state.budget_note = council, decision.reason
    event = _budgeted(state, decision, "waiting" if decision.verdict is Verdict.WAIT else "cut", now)
    state.outbox.append(event)
    return Step(state, tuple(state.outbox)), decision


def resume(
    state: DeliberationState, *, budget: int | None, committed: int, now: float
) -> Step[DeliberationState]:
    """A waiting deliberation starts if the budget now allows a council; otherwise it keeps waiting."""
    if state.status is not Status.WAITING_FOR_BUDGET:
        return Step(state)
    configured = state.configured or state.council
    decision = decide(configured, budget=budget, committed=committed)
    if not decision.starts:
        if decision.reason == state.budget_note:
            return Step(state)
        waiting = state.model_copy(deep=True)
        waiting.budget_note = decision.reason  # the figures moved (a raise that is not yet enough)
        event = _budgeted(waiting, decision, "waiting", now)
        waiting.outbox.append(event)
        return Step(waiting, (event,))
    step = deliberation.start(
        deliberation_id=state.deliberation_id,
        story_id=state.story_id,
        plan_id=state.plan_id,
        task=state.task,
        acceptance_criteria=state.acceptance_criteria,
        council=decision.council,
        story_phase=state.story_phase,
        correlation_id=state.correlation_id,
        now=now,
    )
    started = step.state
    note = decision.reason or f"started after the story's token budget became {budget}"
    started.configured, started.budget_note = configured, note
    started.outbox = [*state.outbox, *started.outbox]  # anything not yet published stays owed
    event = _budgeted(started, decision, "resumed", now)
    started.outbox.append(event)
    return Step(started, (*step.messages, event))


def _budgeted(
    state: DeliberationState,
    decision: BudgetDecision,
    verdict: Literal["cut", "waiting", "resumed"],
    now: float,
) -> Outgoing:
    configured = state.configured or state.council
    event = DeliberationBudgeted(
        deliberation_id=state.deliberation_id,
        story_id=state.story_id,
        plan_id=state.plan_id,
        task_id=state.task.task_id,
        role=state.council.role,
        verdict=verdict,
        agents=decision.council.agents,
        rounds=decision.council.rounds,
        configured_agents=configured.agents,
        configured_rounds=configured.rounds,
        token_budget=decision.budget or 0,
        committed_tokens=max(decision.committed, 0),
        estimated_tokens=decision.estimate,
        reason=decision.reason or f"resumed within a budget of {decision.budget} tokens",
    )
    # One event per decision: the key names the verdict and the committed figure it was taken on.
    key = f"{state.deliberation_id}:{verdict}:{decision.committed}:{decision.budget}"
    return Outgoing.of(subjects.DELIBERATION_BUDGETED, event, key, now, state.correlation_id)
