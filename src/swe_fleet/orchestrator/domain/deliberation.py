"""The deliberation state machine: one council, one task, from first proposals to a selected winner.

Every agent's proposal goes through: generate -> (critique by a peer -> revise) x R -> scored by
peers -> done. Proposals move independently — a proposal is critiqued as soon as it exists, revised
as soon as its critique is in, scored as soon as it is final — so the agents work in parallel and
nobody waits for the slowest agent of a phase. The deliberation selects a winner once every proposal
is done or out. Transitions are pure: (state, response | now) -> Step(state, messages).

Every command has its own deadline (the council's deadline for its kind). Failures are tolerated and
recorded (AgentFailure): an agent whose proposal work fails (generate, revise, or silence past the
deadline) has its proposal taken out and gets no more commands; a failed critique or score only means
fewer reviews (a proposal left without a critique keeps its version for that round). If no proposal
is left, the deliberation ends as failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from swe_fleet.events import agent_protocol as protocol
from swe_fleet.events import subjects
from swe_fleet.events.agent_protocol import CommandKind
from swe_fleet.events.payloads import (
    AgentCommand,
    AgentFailure,
    AgentResponse,
    AgentResponseCompleted,
    DeliberationCancelled,
    DeliberationFailed,
    StoryState,
    TaskSpec,
)
from swe_fleet.orchestrator.domain import ids
from swe_fleet.orchestrator.domain.assignments import critic_for, judges_for
from swe_fleet.orchestrator.domain.budget import answer_tokens
from swe_fleet.orchestrator.domain.council import Council, DeliberationPhase, criterion_key
from swe_fleet.orchestrator.domain.deliberation_state import (
    CritiqueEntry,
    DeliberationState,
    PendingCommand,
    Progress,
    Stage,
    Status,
    Verdict,
    Version,
)
from swe_fleet.orchestrator.domain.messages import Outgoing, Step
from swe_fleet.orchestrator.domain.outcome import complete

__all__ = [
    "DeliberationState",
    "Stage",
    "Status",
    "cancel",
    "on_deadline",
    "on_response",
    "start",
    "tombstone",
]


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
    )
    sent: list[Outgoing] = []
    for agent in state.agents:
        state.progress[agent] = Progress()
        _send(state, CommandKind.GENERATE, agent, agent, 0, now, sent)
    return _step(state, sent)


def on_response(state: DeliberationState, response: AgentResponse, now: float) -> Step[DeliberationState]:
    """Record an agent's answer; a response to no pending command (late, duplicate) changes nothing."""
    pending = state.pending.get(response.command_id)
    if state.status.terminal or pending is None:
        return Step(state)
    state = state.model_copy(deep=True)
    del state.pending[response.command_id]
    state.spent_tokens += answer_tokens(response)  # a pending command is answered once: counted once
    if isinstance(response, AgentResponseCompleted):
        problem = _record_answer(state, pending, response.output)
        if problem:
            _record_failure(state, pending, problem)
    else:
        _record_failure(state, pending, f"agent failed: {response.failure}")
    sent: list[Outgoing] = []
    _move_on(state, pending.target_agent_id, now, sent)
    _finish_if_done(state, now, sent)
    return _step(state, sent)


def on_deadline(state: DeliberationState, now: float) -> Step[DeliberationState]:
    """Every command past its deadline is a timeout; the proposals it held up move on."""
    late = sorted((p for p in state.pending.values() if now >= p.deadline), key=lambda p: p.command_id)
    if state.status.terminal or not late:
        return Step(state)
    state = state.model_copy(deep=True)
    for pending in late:
        del state.pending[pending.command_id]
        _record_failure(state, pending, f"no answer within {pending.deadline - pending.sent_at:.0f}s")
    sent: list[Outgoing] = []
    for author in dict.fromkeys(p.target_agent_id for p in late):
        _move_on(state, author, now, sent)
    _finish_if_done(state, now, sent)
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
    subject, correlation = subjects.DELIBERATION_CANCELLED, state.correlation_id
    return _step(state, [Outgoing.of(subject, event, state.deliberation_id, now, correlation)])


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
        state.progress[pending.agent_id].stage = Stage.OUT


class _Unusable(ValueError):
    """An answer that cannot be recorded; the message says why."""


Answer = TypeVar("Answer", bound=BaseModel)


def _parse(model: type[Answer], pending: PendingCommand, output: dict) -> Answer:
    try:
        return model.model_validate(output)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        raise _Unusable(f"invalid {pending.kind.value} output: {where}: {first['msg']}") from None


def _record_answer(state: DeliberationState, pending: PendingCommand, output: dict) -> str | None:
    """Store a valid answer; return the problem when the answer is unusable."""
    try:
        _store_answer(state, pending, output)
    except _Unusable as problem:
        return str(problem)
    return None


def _store_answer(state: DeliberationState, pending: PendingCommand, output: dict) -> None:
    """Each kind's answer parsed with its own model (the one in `OUTPUT_MODEL_FOR_KIND`)."""
    if pending.kind is CommandKind.GENERATE:
        proposal = _parse(protocol.Proposal, pending, output)
        revision = protocol.Revision.model_validate(proposal.model_dump())
        original = Version(revision=0, proposal=revision, command_id=pending.command_id)
        state.versions[pending.agent_id] = [original]
    elif pending.kind is CommandKind.REVISE:
        revised = _parse(protocol.Revision, pending, output)
        state.versions[pending.agent_id].append(
            Version(revision=pending.round, proposal=revised, command_id=pending.command_id)
        )
    elif pending.kind is CommandKind.CRITIQUE:
        critique = _parse(protocol.Critique, pending, output)
        state.critiques.append(
            CritiqueEntry(
                critique_id=ids.critique_id(
                    state.deliberation_id, pending.agent_id, pending.target_agent_id, pending.round
                ),
                round=pending.round,
                critic=pending.agent_id,
                author=pending.target_agent_id,
                critique=critique,
            )
        )
    elif pending.kind is CommandKind.SCORE:
        scores = _parse(protocol.RubricScores, pending, output)
        known = {criterion_key(c.criterion) for c in state.council.rubric}
        if not any(criterion_key(s.criterion) in known for s in scores.scores):
            expected = ", ".join(c.criterion for c in state.council.rubric)
            raise _Unusable(f"scored none of the rubric criteria (expected: {expected})")
        state.verdicts.append(
            Verdict(
                judge=pending.agent_id,
                author=pending.target_agent_id,
                scores=scores,
                command_id=pending.command_id,
            )
        )


# ------------------------------------------------------------------ moving a proposal on


def _move_on(state: DeliberationState, author: str, now: float, sent: list[Outgoing]) -> None:
    """`author`'s proposal had a command resolved: send its next command, if its inputs are complete."""
    progress = state.progress[author]
    waiting = any(p.target_agent_id == author for p in state.pending.values())
    if waiting or progress.stage in (Stage.OUT, Stage.DONE):
        return
    if progress.stage is Stage.GENERATE:
        if state.council.rounds:
            _critique(state, author, 1, now, sent)
        else:  # a council without critique rounds: the proposal goes straight to its judges
            _after_revision(state, author, now, sent)
    elif progress.stage is Stage.CRITIQUE:
        if any(c.author == author and c.round == progress.round for c in state.critiques):
            progress.stage = Stage.REVISE
            _send(state, CommandKind.REVISE, author, author, progress.round, now, sent)
        else:  # its critic failed: the proposal keeps its version for this round
            _after_revision(state, author, now, sent)
    elif progress.stage is Stage.REVISE:
        _after_revision(state, author, now, sent)
    elif progress.stage is Stage.SCORE:
        progress.stage = Stage.DONE


def _critique(
    state: DeliberationState, author: str, round_number: int, now: float, sent: list[Outgoing]
) -> None:
    progress = state.progress[author]
    progress.stage, progress.round = Stage.CRITIQUE, round_number
    critic = critic_for(state.agents, author, round_number, unavailable=state.out)
    _send(state, CommandKind.CRITIQUE, critic, author, round_number, now, sent)


def _after_revision(state: DeliberationState, author: str, now: float, sent: list[Outgoing]) -> None:
    progress = state.progress[author]
    if progress.round < state.council.rounds:
        _critique(state, author, progress.round + 1, now, sent)
        return
    progress.stage = Stage.SCORE
    last_critic = next(
        (c.critic for c in reversed(state.critiques) if c.author == author and c.round == progress.round),
        None,
    )
    judges = judges_for(
        state.agents,
        author,
        state.council.judges_per_proposal,
        last_critic=last_critic,
        unavailable=state.out,
    )
    for judge in judges:
        _send(state, CommandKind.SCORE, judge, author, progress.round, now, sent)


def _finish_if_done(state: DeliberationState, now: float, sent: list[Outgoing]) -> None:
    if state.pending or any(p.stage not in (Stage.DONE, Stage.OUT) for p in state.progress.values()):
        return
    if state.candidates:
        complete(state, now, sent)
    else:
        _fail(state, now, sent)


_PHASE_OF = {
    CommandKind.GENERATE: DeliberationPhase.GENERATE,
    CommandKind.CRITIQUE: DeliberationPhase.CRITIQUE,
    CommandKind.REVISE: DeliberationPhase.REVISE,
    CommandKind.SCORE: DeliberationPhase.SCORE,
}


def _send(
    state: DeliberationState,
    kind: CommandKind,
    agent: str,
    target: str,
    round_number: int,
    now: float,
    sent: list[Outgoing],
) -> None:
    command_id = ids.command_id(state.deliberation_id, kind.value, round_number, agent, target)
    state.pending[command_id] = PendingCommand(
        command_id=command_id,
        kind=kind,
        agent_id=agent,
        target_agent_id=target,
        round=round_number,
        sent_at=now,
        deadline=now + state.council.deadlines.seconds(_PHASE_OF[kind]),
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
        inputs=_inputs(state, kind, agent, target, round_number),
        output_schema=protocol.output_schema(kind),
        token_budget=state.council.token_budget,
        deadline_seconds=state.council.deadlines.seconds(_PHASE_OF[kind]),
    )
    sent.append(Outgoing.of(protocol.SUBJECT_FOR_KIND[kind], command, command_id, now, state.correlation_id))


def _inputs(state: DeliberationState, kind: CommandKind, agent: str, target: str, round_number: int) -> dict:
    """What each command kind carries (events.agent_protocol), plus the plan's criteria."""
    inputs: dict = {
        "task": state.task.model_dump(mode="json"),
        "rubric": [c.model_dump(mode="json") for c in state.council.rubric],
        "acceptance_criteria": list(state.acceptance_criteria),
    }
    if kind is CommandKind.GENERATE:
        return inputs
    proposal = state.latest(target).proposal
    document = protocol.Proposal.model_validate(proposal.model_dump()).model_dump(mode="json")
    inputs["proposal"] = document
    if kind in (CommandKind.CRITIQUE, CommandKind.SCORE):
        inputs["proposal_id"] = ids.proposal_id(state.deliberation_id, target)
        if kind is CommandKind.CRITIQUE and agent == target:
            inputs["self_critique"] = True  # no peer is left (or the council has one agent)
    else:  # revise
        inputs["critiques"] = [
            c.critique.model_dump(mode="json")
            for c in state.critiques
            if c.round == round_number and c.author == agent
        ]
    return inputs


def _fail(state: DeliberationState, now: float, sent: list[Outgoing]) -> None:
    reason = (
        f"every agent of the {state.council.role.value} council failed or timed out on its own proposal "
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
