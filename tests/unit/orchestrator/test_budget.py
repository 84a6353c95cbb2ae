"""The story token budget's decision (pure): as configured, cut to fewer rounds or agents, or wait."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swe_fleet.events import subjects
from swe_fleet.events.payloads import AgentResponseCompleted, AgentResponseFailed, LlmUsage, Role, TaskSpec
from swe_fleet.orchestrator.domain import deliberation
from swe_fleet.orchestrator.domain.budget import (
    CouncilCost,
    Verdict,
    committed_tokens,
    council_commands,
    decide,
    estimate_tokens,
)
from swe_fleet.orchestrator.domain.budgeted_start import resume, start_within_budget
from swe_fleet.orchestrator.domain.council import load_councils
from swe_fleet.orchestrator.domain.deliberation_state import Status

COUNCILS = load_councils()


def council(agents: int = 3, rounds: int = 1, judges: int = 2, per_call: int = 1000):
    return COUNCILS.for_role(Role.DEV).model_copy(
        update={"agents": agents, "rounds": rounds, "judges_per_proposal": judges, "token_budget": per_call}
    )


def test_the_estimate_counts_every_command_the_protocol_sends() -> None:
    # 3 agents, 1 round, 2 judges: 3 generate + 3 critique + 3 revise + 6 score (ADR 0401).
    assert council_commands(3, 1, 2) == 15
    assert council_commands(1, 1, 2) == 4  # a council of one critiques and scores itself once
    assert council_commands(2, 2, 2) == 2 * (1 + 4 + 1)
    assert estimate_tokens(council(per_call=1000)) == 15_000


def test_no_budget_runs_the_council_as_configured() -> None:
    decision = decide(council(), budget=None, committed=10**9)
    assert decision.verdict is Verdict.FULL and decision.council == council()


def test_a_council_that_fits_runs_as_configured() -> None:
    decision = decide(council(), budget=20_000, committed=5_000)
    assert decision.verdict is Verdict.FULL and decision.estimate == 15_000 and not decision.reason


def test_rounds_are_cut_before_agents() -> None:
    configured = council(agents=3, rounds=2)  # 3 x (1 + 4 + 2) = 21 calls
    decision = decide(configured, budget=16_000, committed=0)
    assert decision.verdict is Verdict.CUT
    assert (decision.council.agents, decision.council.rounds) == (3, 1)
    assert "cut to 3 agent(s) x 1 round(s)" in decision.reason and "21000" in decision.reason


def test_agents_are_cut_when_one_round_is_still_too_much() -> None:
    decision = decide(council(), budget=12_000, committed=2_000)  # 10,000 left: 2 agents x 1 round = 8,000
    assert decision.verdict is Verdict.CUT
    assert (decision.council.agents, decision.council.rounds) == (2, 1) and decision.estimate == 8_000


def test_a_council_without_rounds_is_cut_in_seats_only() -> None:
    lean = council(agents=3, rounds=0, judges=1)  # 3 x (1 + 0 + 1) = 6 calls
    assert estimate_tokens(lean) == 6_000
    decision = decide(lean, budget=5_000, committed=0)
    assert decision.verdict is Verdict.CUT and (decision.council.agents, decision.council.rounds) == (2, 0)
    waiting = decide(lean, budget=1_500, committed=0)
    assert waiting.verdict is Verdict.WAIT and waiting.estimate == 2_000  # one agent: generate + score


def test_when_even_one_agent_overspends_the_council_waits_and_says_what_would_let_it_go_on() -> None:
    decision = decide(council(), budget=10_000, committed=7_000)  # one agent, one round: 4,000
    assert decision.verdict is Verdict.WAIT and not decision.starts
    assert decision.estimate == 4_000
    assert "committed 7000 of its 10000" in decision.reason and "at least 11000" in decision.reason


def test_committed_counts_running_councils_at_their_estimate_and_ended_ones_at_what_they_spent() -> None:
    costs = [
        CouncilCost(spent=3_000, estimate=15_000, running=True),  # may still spend up to 15,000
        CouncilCost(spent=16_000, estimate=15_000, running=True),  # already over its estimate
        CouncilCost(spent=9_000, estimate=15_000, running=False),
        CouncilCost(spent=0, estimate=15_000, running=False),  # waiting: nothing spent
    ]
    assert committed_tokens(1_500, costs) == 1_500 + 15_000 + 16_000 + 9_000


@given(
    agents=st.integers(1, 9),
    rounds=st.integers(0, 5),
    judges=st.integers(1, 8),
    per_call=st.integers(64, 4096),
    budget=st.integers(1, 400_000),
    committed=st.integers(0, 400_000),
)
def test_a_council_never_starts_on_more_than_the_budget_leaves(
    agents: int, rounds: int, judges: int, per_call: int, budget: int, committed: int
) -> None:
    configured = council(agents, rounds, judges, per_call)
    decision = decide(configured, budget=budget, committed=committed)
    if decision.starts:
        assert estimate_tokens(decision.council) == decision.estimate <= budget - committed
        assert decision.council.agents <= agents and decision.council.rounds <= rounds
        assert (decision.verdict is Verdict.FULL) == (decision.council == configured)
        # Nothing bigger in the preference order (same agents with more rounds, or more agents) fits.
        if decision.council.rounds < rounds:
            bigger = decision.council.model_copy(update={"rounds": decision.council.rounds + 1})
            assert estimate_tokens(bigger) > budget - committed
    else:
        smallest = configured.model_copy(update={"agents": 1, "rounds": min(rounds, 1)})
        assert estimate_tokens(smallest) > budget - committed


TASK = TaskSpec(
    task_id="PL-1-T1", title="Export invoices", description="CSV export", role=Role.DEV, estimate_hours=2
)


def _start(budget: int | None, committed: int):
    return start_within_budget(
        deliberation_id="DL-1",
        story_id="US-1",
        plan_id="PL-1",
        task=TASK,
        acceptance_criteria=["it exports"],
        council=council(),
        story_phase="PLANNED",
        correlation_id=None,
        now=100.0,
        budget=budget,
        committed=committed,
    )


def test_a_cut_council_sends_commands_to_its_seats_only_and_says_why() -> None:
    step, decision = _start(budget=9_000, committed=0)
    assert decision.verdict is Verdict.CUT and step.state.council.agents == 2
    assert sorted(m.payload["agent_id"] for m in step.commands) == ["dev-1", "dev-2"]
    (event,) = [m for m in step.events if m.subject == subjects.DELIBERATION_BUDGETED]
    assert event.payload["verdict"] == "cut" and event.payload["configured_agents"] == 3
    assert step.state.configured == council() and step.state.budget_note == decision.reason
    assert list(step.state.outbox) == list(step.messages)


def test_a_waiting_council_sends_nothing_until_a_raise_lets_it_start() -> None:
    step, _ = _start(budget=10_000, committed=8_000)
    waiting = step.state
    assert waiting.status is Status.WAITING_FOR_BUDGET and not waiting.status.terminal
    assert not step.commands and not waiting.pending
    (event,) = step.events
    assert event.payload["verdict"] == "waiting" and "at least 12000" in event.payload["reason"]

    still = resume(waiting, budget=10_000, committed=8_000, now=200.0)
    assert still.state is waiting and not still.messages  # same figures: nothing new to say

    raised = resume(waiting, budget=30_000, committed=8_000, now=300.0)
    assert raised.state.status is Status.DELIBERATING and raised.state.council.agents == 3
    assert len(raised.commands) == 3
    assert [m.payload["verdict"] for m in raised.events] == ["resumed"]


def test_a_council_records_the_tokens_of_each_answer_once() -> None:
    step, _ = _start(budget=None, committed=0)
    state = step.state
    first, second = (m.model() for m in step.commands[:2])
    usage = LlmUsage(prompt_tokens=700, completion_tokens=120)
    answer = AgentResponseFailed.answering(first, worker_id="w", error="boom", usage=usage)  # type: ignore[arg-type]
    state = deliberation.on_response(state, answer, 101.0).state
    state = deliberation.on_response(state, answer, 102.0).state  # redelivered: not counted again
    done = AgentResponseCompleted.answering(second, worker_id="w", output={}, usage=usage)  # type: ignore[arg-type]
    state = deliberation.on_response(state, done, 103.0).state
    assert state.spent_tokens == 2 * 820
