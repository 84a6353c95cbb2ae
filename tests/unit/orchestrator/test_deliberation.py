"""The deliberation state machine: scripted runs, tolerated failures, and properties under random agents."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet_testing.stand_in.answers import answer
from swe_fleet.events import subjects
from swe_fleet.events.payloads import (
    AgentCommand,
    AgentResponseCompleted,
    AgentResponseFailed,
    DeliberationCompleted,
    Role,
    StoryState,
    TaskDispatched,
    TaskSpec,
)
from swe_fleet.orchestrator.domain import deliberation as machine
from swe_fleet.orchestrator.domain.council import load_councils
from swe_fleet.orchestrator.domain.deliberation import DeliberationState, Status
from swe_fleet.orchestrator.domain.messages import Outgoing

TASK = TaskSpec(
    task_id="plan-1-T1", key="T1", title="Implement part 1 of the plan", role=Role.DEV, estimate_hours=3
)
T0 = 1_000.0
DEV_COUNCIL = load_councils().for_role(Role.DEV)  # the packaged file, parsed once for every example


def begin(agents: int = 3, rounds: int = 1, judges: int = 2) -> DeliberationState:
    council = DEV_COUNCIL.model_copy(
        update={"agents": agents, "rounds": rounds, "judges_per_proposal": judges}
    )
    step = machine.start(
        deliberation_id="dlb-plan-1-T1",
        story_id="story-1",
        plan_id="plan-1",
        task=TASK,
        acceptance_criteria=["Part 1 of the plan works"],
        council=council,
        story_phase="PLANNED",
        correlation_id="corr-1",
        now=T0,
    )
    assert len(step.commands) == agents and step.state.outbox == list(step.commands)
    return step.state


def completed(message: Outgoing, **broken) -> AgentResponseCompleted:
    command = AgentCommand.model_validate(message.payload)
    return AgentResponseCompleted(
        command_id=command.command_id,
        kind=command.kind,
        story_id=command.story_id,
        task_id=command.task_id,
        deliberation_id=command.deliberation_id,
        agent_id=command.agent_id,
        output=answer(message.payload, **broken),
    )


def failed(message: Outgoing, error: str = "model overloaded") -> AgentResponseFailed:
    command = AgentCommand.model_validate(message.payload)
    return AgentResponseFailed(
        command_id=command.command_id,
        kind=command.kind,
        story_id=command.story_id,
        deliberation_id=command.deliberation_id,
        agent_id=command.agent_id,
        error=error,
    )


def unsent(state: DeliberationState) -> list[Outgoing]:
    return [m for m in state.outbox if m.subject.startswith("agent.cmd.")]


def run_to_end(state: DeliberationState, respond) -> DeliberationState:
    """Answer every command as `respond(message)` says (None: stay silent), firing deadlines when stuck."""
    answered: set[str] = set()
    now = T0
    for _ in range(200):
        if state.status.terminal:
            return state
        todo = [
            m for m in unsent(state) if m.key not in answered and m.payload["command_id"] in state.pending
        ]
        progressed = False
        for message in todo:
            answered.add(message.key)
            response = respond(message)
            if response is not None:
                now += 1
                state = machine.on_response(state, response, now).state
                progressed = True
        if not progressed:
            state = machine.on_deadline(state, state.next_deadline).state
    raise AssertionError("the deliberation did not end")


def events(state: DeliberationState, subject: str) -> list[Outgoing]:
    return [m for m in state.outbox if m.subject == subject]


def test_a_full_council_deliberates_and_selects_with_reasons() -> None:
    state = run_to_end(begin(), lambda m: completed(m, broken_artifact_agents=frozenset({"dev-2"})))
    assert state.status is Status.COMPLETED
    kinds = Counter(m.payload["kind"] for m in unsent(state))
    assert kinds == {"generate": 3, "critique": 3, "revise": 3, "score": 6}
    (done,) = events(state, subjects.DELIBERATION_COMPLETED)
    payload = done.model()
    assert isinstance(payload, DeliberationCompleted)
    assert payload.winner_agent_id == state.winner != "dev-2"
    assert {p.agent_id for p in payload.proposals} == {"dev-1", "dev-2", "dev-3"}
    assert all(p.revision == 1 and len(p.critiques) == 1 for p in payload.proposals)
    assert [p.status for p in payload.proposals].count("selected") == 1
    aggregates = [s for s in payload.scores if s.aggregate]
    assert len(aggregates) == 3 and len(payload.scores) == 3 + 6
    loser = next(s for s in aggregates if s.proposal_id.endswith("dev-2"))
    assert any(c.name == "artifact_parses" and not c.passed for c in loser.checks)
    (decision,) = payload.decisions
    assert decision.decided_by == "dev-council" and "beat dev-2" in decision.rationale
    (dispatch,) = events(state, subjects.TASK_DISPATCHED)
    assert dispatch.model() == TaskDispatched(
        task_id=TASK.task_id,
        story_id="story-1",
        role=Role.DEV,
        agent_id=state.winner,
        deliberation_id="dlb-plan-1-T1",
        proposal_id=payload.winner_proposal_id,
    )


def test_commands_carry_the_protocol_inputs() -> None:
    state = run_to_end(begin(rounds=2), completed)
    by_kind = {}
    for message in unsent(state):
        by_kind.setdefault(message.payload["kind"], message.payload)
    assert set(by_kind["generate"]["inputs"]) >= {"task", "rubric"}
    assert set(by_kind["critique"]["inputs"]) >= {"task", "rubric", "proposal_id", "proposal"}
    assert set(by_kind["revise"]["inputs"]) >= {"task", "rubric", "proposal", "critiques"}
    assert len(by_kind["revise"]["inputs"]["critiques"]) == 1
    assert set(by_kind["score"]["inputs"]) >= {"task", "rubric", "proposal_id", "proposal"}
    assert all(p["phase"] == "PLANNED" and p["output_schema"] for p in by_kind.values())
    assert Counter(m.payload["round"] for m in unsent(state) if m.payload["kind"] == "critique") == {
        1: 3,
        2: 3,
    }


def test_a_silent_agent_times_out_and_the_rest_carry_on() -> None:
    state = run_to_end(begin(), lambda m: None if m.payload["agent_id"] == "dev-3" else completed(m))
    assert "every other agent" not in state.outcome
    assert state.status is Status.COMPLETED and state.winner in {"dev-1", "dev-2"}
    # Reviews were given to dev-3 before its silence was known: each timed out on its own deadline.
    assert {f.agent_id for f in state.failures} == {"dev-3"}
    generate = next(f for f in state.failures if f.phase == "generate")
    assert "no answer within 300s" in generate.error
    assert "dev-3" in state.out and "dev-3" not in state.candidates


def test_a_seat_silent_only_on_its_proposal_still_reviews_the_others() -> None:
    def respond(message: Outgoing):
        silent = message.payload["agent_id"] == "dev-3" and message.payload["kind"] == "generate"
        return None if silent else completed(message)

    state = run_to_end(begin(), respond)
    assert [(f.agent_id, f.phase) for f in state.failures] == [("dev-3", "generate")]
    payload = events(state, subjects.DELIBERATION_COMPLETED)[0].model()
    assert {p.agent_id for p in payload.proposals} == {"dev-1", "dev-2"}
    assert all(len(p.critiques) == 1 for p in payload.proposals)


def test_failed_critiques_and_judges_are_recorded_but_keep_the_proposal() -> None:
    def respond(message: Outgoing):
        if message.payload["agent_id"] == "dev-1" and message.payload["kind"] in ("critique", "score"):
            return failed(message)
        return completed(message)

    state = run_to_end(begin(), respond)
    assert state.status is Status.COMPLETED
    assert {(f.agent_id, f.phase) for f in state.failures} == {("dev-1", "critique"), ("dev-1", "score")}
    assert "dev-1" not in state.out
    payload = events(state, subjects.DELIBERATION_COMPLETED)[0].model()
    assert {p.agent_id for p in payload.proposals if p.status != "disqualified"} == {
        "dev-1",
        "dev-2",
        "dev-3",
    }


def test_an_invalid_answer_is_a_failure_of_that_agent() -> None:
    def respond(message: Outgoing):
        if message.payload["agent_id"] == "dev-2" and message.payload["kind"] == "generate":
            response = completed(message)
            return response.model_copy(update={"output": {"summary": "no steps"}})
        return completed(message)

    state = run_to_end(begin(), respond)
    (failure,) = state.failures
    assert failure.agent_id == "dev-2" and "invalid generate output" in failure.error


def test_every_agent_failing_ends_the_deliberation_as_failed() -> None:
    state = run_to_end(begin(), lambda m: failed(m))
    assert state.status is Status.FAILED and state.winner is None
    (event,) = events(state, subjects.DELIBERATION_FAILED)
    assert len(event.model().failures) == 3 and "no proposal is left" in event.model().reason
    assert not events(state, subjects.DELIBERATION_COMPLETED)


def test_a_council_of_one_critiques_and_judges_itself() -> None:
    state = run_to_end(begin(agents=1), completed)
    assert state.status is Status.COMPLETED and state.winner == "dev-1"
    assert "the council has one agent" in state.outcome
    critique = next(m for m in unsent(state) if m.payload["kind"] == "critique")
    assert critique.payload["inputs"]["self_critique"] is True


def test_a_council_without_rounds_sends_its_proposals_straight_to_the_judges() -> None:
    state = run_to_end(begin(rounds=0, judges=1), lambda m: completed(m))
    assert state.status is Status.COMPLETED
    assert Counter(m.payload["kind"] for m in unsent(state)) == {"generate": 3, "score": 3}
    (done,) = events(state, subjects.DELIBERATION_COMPLETED)
    payload = done.model()
    assert isinstance(payload, DeliberationCompleted) and payload.rounds == 0
    assert all(p.revision == 0 and not p.critiques for p in payload.proposals)
    judged = [m for m in unsent(state) if m.payload["kind"] == "score"]
    assert all(m.payload["agent_id"] not in m.payload["inputs"]["proposal_id"] for m in judged)


def test_duplicates_late_answers_and_early_ticks_change_nothing() -> None:
    state = begin()
    first = unsent(state)[0]
    after = machine.on_response(state, completed(first), T0 + 1).state
    assert machine.on_response(after, completed(first), T0 + 2).state == after
    late = unsent(state)[1]
    deadline = after.pending[late.payload["command_id"]].deadline
    assert machine.on_deadline(after, after.next_deadline - 0.001).state == after
    timed_out = machine.on_deadline(after, deadline).state
    assert late.payload["command_id"] not in timed_out.pending
    assert machine.on_response(timed_out, completed(late), deadline + 5).state == timed_out


def test_cancel_stops_the_deliberation_once() -> None:
    state = begin()
    step = machine.cancel(state, "story moved back", StoryState.DRAFT, T0 + 3)
    assert step.state.status is Status.CANCELLED and not step.state.pending
    (event,) = step.events
    assert event.subject == subjects.DELIBERATION_CANCELLED and event.model().story_state is StoryState.DRAFT
    assert machine.cancel(step.state, "again", StoryState.DRAFT, T0 + 4).state == step.state
    assert machine.on_response(step.state, completed(unsent(state)[0]), T0 + 5).state == step.state
    tomb = machine.tombstone(state, "never started", StoryState.CARRY_OVER)
    assert tomb.status is Status.CANCELLED and [m.subject for m in tomb.outbox] == [
        subjects.DELIBERATION_CANCELLED
    ]


# ------------------------------------------------------------------ properties

ACTIONS = ["answer", "answer", "answer", "fail", "invalid", "silent"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    agents=st.integers(min_value=1, max_value=5),
    rounds=st.integers(min_value=0, max_value=3),  # 0: straight to the judges
    judges=st.integers(min_value=1, max_value=4),
    data=st.data(),
)
def test_any_mix_of_answers_failures_and_silence_ends_well(
    agents: int, rounds: int, judges: int, data
) -> None:
    state = begin(agents, rounds, judges)
    sent_ids: Counter[str] = Counter(m.payload["command_id"] for m in unsent(state))
    now = T0
    for _ in range(agents * (2 + 2 * rounds + judges) + 1):  # at most one deadline per command
        while True:
            open_ = [m for m in unsent(state) if m.payload["command_id"] in state.pending]
            actions = {m.key: data.draw(st.sampled_from(ACTIONS)) for m in open_}
            answerable = [m for m in open_ if actions[m.key] != "silent"]
            if not answerable:
                break
            order = data.draw(st.permutations(answerable))
            for message in order:
                if message.payload["command_id"] not in state.pending:
                    continue
                action = actions[message.key]
                response = failed(message) if action == "fail" else completed(message)
                if action == "invalid":
                    response = response.model_copy(update={"output": {"nonsense": True}})
                now += 1
                before_outbox = len(state.outbox)
                step = machine.on_response(state, response, now)
                check_new_commands(state, step.state, step.messages)
                state = step.state
                assert len(state.outbox) == before_outbox + len(step.messages)
                sent_ids.update(m.payload["command_id"] for m in step.commands)
                # A redelivered response changes nothing.
                assert machine.on_response(state, response, now + 0.5).state == state
            if state.status.terminal:
                break
        if state.status.terminal:
            break
        step = machine.on_deadline(state, state.next_deadline)
        check_new_commands(state, step.state, step.messages)
        sent_ids.update(m.payload["command_id"] for m in step.commands)
        state = step.state
    assert state.status.terminal, "every deliberation ends within one deadline per command"
    assert max(sent_ids.values()) == 1, "no command is ever sent twice"
    finished = events(state, subjects.DELIBERATION_COMPLETED)
    failed_events = events(state, subjects.DELIBERATION_FAILED)
    if state.status is Status.COMPLETED:
        assert len(finished) == 1 and not failed_events
        assert state.winner in state.versions and state.winner not in state.out
        payload = finished[0].model()
        assert payload.winner_agent_id == state.winner
        assert len(events(state, subjects.TASK_DISPATCHED)) == 1
    else:
        assert state.status is Status.FAILED and len(failed_events) == 1 and not finished
        assert all(agent in state.out for agent in state.versions)


def check_new_commands(before: DeliberationState, after: DeliberationState, messages) -> None:
    for message in messages:
        if not message.subject.startswith("agent.cmd."):
            continue
        agent, kind = message.payload["agent_id"], message.payload["kind"]
        assert agent not in after.out, "no command to an agent whose proposal left"
        if kind in ("critique", "score"):
            target = message.payload["inputs"]["proposal_id"].rsplit(".", 1)[-1]
            assert target in after.candidates
            if len(after.available) > 1:
                assert target != agent, "no agent reviews itself while a peer is available"
