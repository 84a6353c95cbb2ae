"""The deliberation state machine: one council, one task, from first proposals to a selected winner.

    generate -> critique(1) -> revise(1) -> ... -> critique(R) -> revise(R) -> score -> completed
    (any phase may end in failed, when no proposal is left, or cancelled, when the story moves back)
Every phase sends its commands at once (the agents work in parallel) and ends when each command is
answered, failed or past the phase deadline. Transitions are pure: (state, response | now) -> Step.

Failures are tolerated and recorded (AgentFailure). An agent whose proposal work fails (generate or
revise) leaves the deliberation: its proposal is no longer a candidate and it gets no more commands.
A failed critique or score only means fewer reviews; the reviewer's own proposal stays in. If no
proposal is left, the deliberation ends as failed.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from swe_fleet.agents import protocol
from swe_fleet.agents.protocol import CommandKind
from swe_fleet.events import subjects
from swe_fleet.events.payloads import (
    AgentCommand,
    AgentFailure,
    AgentResponseCompleted,
    AgentResponseFailed,
    DeliberationCancelled,
    DeliberationFailed,
    StoryState,
    TaskSpec,
)
from swe_fleet.orchestrator.domain import ids
from swe_fleet.orchestrator.domain.assignments import critique_pairs, judge_pairs
from swe_fleet.orchestrator.domain.council import Council, DeliberationPhase, criterion_key
from swe_fleet.orchestrator.domain.deliberation_state import (
    CritiqueEntry,
    DeliberationState,
    PendingCommand,
    Status,
    Verdict,
    Version,
)
from swe_fleet.orchestrator.domain.messages import Outgoing, Step
from swe_fleet.orchestrator.domain.outcome import complete

__all__ = ["DeliberationState", "Status", "cancel", "on_deadline", "on_response", "start", "tombstone"]


# ------------------------------------------------------------------ transitions


def start(
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
) -> Step[DeliberationState]:
    state = DeliberationState(
        deliberation_id=deliberation_id,
        story_id=story_id,
        plan_id=plan_id,
        task=task,
        acceptance_criteria=list(acceptance_criteria),
        council=council,
        story_phase=story_phase,
        correlation_id=correlation_id,
        started_at=now,
        phase_started_at=now,
        phase_deadline=now,
    )
    sent: list[Outgoing] = []
    _begin(state, Status.GENERATE, 0, [(agent, agent) for agent in state.agents], now, sent)
    return _step(state, sent)


def on_response(
    state: DeliberationState, response: AgentResponseCompleted | AgentResponseFailed, now: float
) -> Step[DeliberationState]:
    """Record an agent's answer; a response to no pending command (late, duplicate) changes nothing."""
    pending = state.pending.get(response.command_id)
    if state.status.terminal or pending is None:
        return Step(state)
    state = state.model_copy(deep=True)
    del state.pending[response.command_id]
    if isinstance(response, AgentResponseFailed):
        _record_failure(state, pending, f"agent failed: {response.error}")
    else:
        problem = _record_answer(state, pending, response.output)
        if problem:
            _record_failure(state, pending, problem)
    sent: list[Outgoing] = []
    if not state.pending:
        _advance(state, now, sent)
    return _step(state, sent)


def on_deadline(state: DeliberationState, now: float) -> Step[DeliberationState]:
    """Past the phase deadline, every unanswered command is a timeout and the phase moves on."""
    if state.status.terminal or now < state.phase_deadline or not state.pending:
        return Step(state)
    state = state.model_copy(deep=True)
    waited = state.phase_deadline - state.phase_started_at
    for pending in sorted(state.pending.values(), key=lambda p: p.command_id):
        _record_failure(state, pending, f"no answer within {waited:.0f}s")
    state.pending.clear()
    sent: list[Outgoing] = []
    _advance(state, now, sent)
    return _step(state, sent)


def cancel(
    state: DeliberationState, reason: str, story_state: StoryState | None, now: float
) -> Step[DeliberationState]:
    if state.status.terminal:
        return Step(state)
    state = state.model_copy(deep=True)
    state.status, state.ended_at, state.outcome = Status.CANCELLED, now, reason
    state.pending.clear()
    event = DeliberationCancelled(
        deliberation_id=state.deliberation_id,
        story_id=state.story_id,
        plan_id=state.plan_id,
        task_id=state.task.task_id,
        role=state.council.role,
        reason=reason,
        story_state=story_state,
    )
    return _step(
        state,
        [
            Outgoing.of(
                subjects.DELIBERATION_CANCELLED, event, state.deliberation_id, now, state.correlation_id
            )
        ],
    )


def with_story_phase(state: DeliberationState, phase: str) -> DeliberationState:
    """Later commands carry the story's new phase (the workers' context depends on it)."""
    return state if state.story_phase == phase else state.model_copy(update={"story_phase": phase})


def tombstone(started: DeliberationState, reason: str, story_state: StoryState | None) -> DeliberationState:
    """A deliberation cancelled before it started: recorded as cancelled, its commands never sent."""
    unsent = started.model_copy(update={"outbox": []})
    return cancel(unsent, reason, story_state, started.started_at).state


# ------------------------------------------------------------------ recording answers


def _record_failure(state: DeliberationState, pending: PendingCommand, error: str) -> None:
    label = f"round {pending.round}: " if pending.round else ""
    failure = AgentFailure(agent_id=pending.agent_id, phase=pending.kind.value, error=label + error)
    state.failures.append(failure)
    if pending.kind in (CommandKind.GENERATE, CommandKind.REVISE):
        state.out.setdefault(pending.agent_id, f"{pending.kind.value} failed: {error}")


def _record_answer(state: DeliberationState, pending: PendingCommand, output: dict) -> str | None:
    """Store a valid answer; return the problem when the answer is unusable."""
    model = protocol.OUTPUT_MODEL_FOR_KIND[pending.kind]
    try:
        answer = model.model_validate(output)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        return f"invalid {pending.kind.value} output: {where}: {first['msg']}"
    if pending.kind is CommandKind.GENERATE:
        revision = protocol.Revision.model_validate(answer.model_dump())
        original = Version(revision=0, proposal=revision, command_id=pending.command_id)
        state.versions[pending.agent_id] = [original]
    elif pending.kind is CommandKind.REVISE:
        assert isinstance(answer, protocol.Revision)
        state.versions[pending.agent_id].append(
            Version(revision=pending.round, proposal=answer, command_id=pending.command_id)
        )
    elif pending.kind is CommandKind.CRITIQUE:
        assert isinstance(answer, protocol.Critique)
        state.critiques.append(
            CritiqueEntry(
                critique_id=ids.critique_id(
                    state.deliberation_id, pending.agent_id, pending.target_agent_id, pending.round
                ),
                round=pending.round,
                critic=pending.agent_id,
                author=pending.target_agent_id,
                critique=answer,
            )
        )
    elif pending.kind is CommandKind.SCORE:
        assert isinstance(answer, protocol.RubricScores)
        known = {criterion_key(c.criterion) for c in state.council.rubric}
        if not any(criterion_key(s.criterion) in known for s in answer.scores):
            expected = ", ".join(c.criterion for c in state.council.rubric)
            return f"scored none of the rubric criteria (expected: {expected})"
        state.verdicts.append(
            Verdict(
                judge=pending.agent_id,
                author=pending.target_agent_id,
                scores=answer,
                command_id=pending.command_id,
            )
        )
    return None


# ------------------------------------------------------------------ moving between phases


def _advance(state: DeliberationState, now: float, sent: list[Outgoing]) -> None:
    """The phase in hand is over (nothing pending): start the next one that has work, or finish."""
    while not state.pending and not state.status.terminal:
        if state.status is not Status.SCORE and not state.candidates:
            _fail(state, now, sent)
            return
        if state.status is Status.GENERATE:
            _begin_critique(state, 1, now, sent)
        elif state.status is Status.CRITIQUE:
            critiqued = {c.author for c in state.critiques if c.round == state.round}
            authors = sorted(critiqued & set(state.candidates))
            _begin(state, Status.REVISE, state.round, [(a, a) for a in authors], now, sent)
        elif state.status is Status.REVISE:
            if state.round < state.council.rounds:
                _begin_critique(state, state.round + 1, now, sent)
            else:
                pairs = judge_pairs(state.candidates, state.council.judges_per_proposal, state.council.rounds)
                _begin(state, Status.SCORE, state.round, pairs, now, sent)
        elif state.status is Status.SCORE:
            complete(state, now, sent)


def _begin_critique(state: DeliberationState, round_number: int, now: float, sent: list[Outgoing]) -> None:
    _begin(state, Status.CRITIQUE, round_number, critique_pairs(state.candidates, round_number), now, sent)


_KIND_OF = {
    Status.GENERATE: CommandKind.GENERATE,
    Status.CRITIQUE: CommandKind.CRITIQUE,
    Status.REVISE: CommandKind.REVISE,
    Status.SCORE: CommandKind.SCORE,
}


def _begin(
    state: DeliberationState,
    status: Status,
    round_number: int,
    pairs: Sequence[tuple[str, str]],
    now: float,
    sent: list[Outgoing],
) -> None:
    """Enter a phase: one command per (agent, target) pair, all sent at once, one deadline for all."""
    kind = _KIND_OF[status]
    state.status, state.round = status, round_number
    state.phase_started_at = now
    state.phase_deadline = now + state.council.deadlines.seconds(DeliberationPhase(status.value))
    for agent, target in pairs:
        command_id = ids.command_id(state.deliberation_id, kind.value, round_number, agent, target)
        state.pending[command_id] = PendingCommand(
            command_id=command_id, kind=kind, agent_id=agent, target_agent_id=target, round=round_number
        )
        command = AgentCommand(
            command_id=command_id,
            kind=kind.value,
            story_id=state.story_id,
            task_id=state.task.task_id,
            deliberation_id=state.deliberation_id,
            role=state.council.role,
            agent_id=agent,
            round=round_number,
            phase=state.story_phase,
            inputs=_inputs(state, kind, agent, target),
            output_schema=protocol.output_schema(kind),
            token_budget=state.council.token_budget,
        )
        sent.append(
            Outgoing.of(protocol.SUBJECT_FOR_KIND[kind], command, command_id, now, state.correlation_id)
        )


def _inputs(state: DeliberationState, kind: CommandKind, agent: str, target: str) -> dict:
    """What each command kind carries (swe_fleet.agents.protocol.CommandKind), plus the plan's criteria."""
    inputs: dict = {
        "task": state.task.model_dump(mode="json"),
        "rubric": [c.model_dump(mode="json") for c in state.council.rubric],
        "acceptance_criteria": list(state.acceptance_criteria),
    }
    if kind is CommandKind.GENERATE:
        return inputs
    proposal = state.latest(target).proposal
    document = protocol.Proposal.model_validate(proposal.model_dump()).model_dump(mode="json")
    if kind in (CommandKind.CRITIQUE, CommandKind.SCORE):
        inputs["proposal_id"] = ids.proposal_id(state.deliberation_id, target)
        inputs["proposal"] = document
        if kind is CommandKind.CRITIQUE and agent == target:
            inputs["self_critique"] = True  # a council of one reviews its own work
    else:  # revise
        inputs["proposal"] = document
        inputs["critiques"] = [
            c.critique.model_dump(mode="json")
            for c in state.critiques
            if c.round == state.round and c.author == agent
        ]
    return inputs


def _fail(state: DeliberationState, now: float, sent: list[Outgoing]) -> None:
    phase = "revise" if state.versions else "generate"
    reason = (
        f"every agent of the {state.council.role.value} council failed or timed out by the {phase} phase "
        f"({len(state.failures)} failure(s)); no proposal is left to select"
    )
    state.status, state.ended_at, state.outcome = Status.FAILED, now, reason
    event = DeliberationFailed(
        deliberation_id=state.deliberation_id,
        story_id=state.story_id,
        plan_id=state.plan_id,
        task_id=state.task.task_id,
        role=state.council.role,
        agents=state.agents,
        reason=reason,
        failures=state.failures,
    )
    sent.append(
        Outgoing.of(subjects.DELIBERATION_FAILED, event, state.deliberation_id, now, state.correlation_id)
    )


def _step(state: DeliberationState, sent: list[Outgoing]) -> Step[DeliberationState]:
    state.outbox.extend(sent)
    return Step(state, tuple(sent))
