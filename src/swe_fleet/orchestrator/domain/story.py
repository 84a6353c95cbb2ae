"""What the Orchestrator knows of a story: its phase, and the derivation of tasks from each approved plan.

Planning events are ordered by their PLANNING_EVENTS stream sequence, which both planning consumers
see: a transition only counts if it is newer than the last one recorded (a redelivered or stale one
changes nothing), and a story that moved back to DRAFT, CARRY_OVER or ARCHIVED cancels the work
started by approvals older than that move — including an approval processed after the move.

Derivation: the plan goes to an ARCHITECT agent (`derive`); its answer is validated
(domain.derivation); an unusable answer or a silent agent costs an attempt, and the next attempt
carries a repair message; after the last attempt a TaskDerivationFailed says why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swe_fleet.events import agent_protocol as protocol
from swe_fleet.events import subjects
from swe_fleet.events.agent_protocol import CommandKind
from swe_fleet.events.payloads import (
    AgentCommand,
    AgentResponse,
    AgentResponseCompleted,
    PlanApproved,
    StoryState,
    StoryTokenBudgetSet,
    StoryTransitioned,
    TaskDerivationFailed,
    TasksDerived,
    TaskSpec,
)
from swe_fleet.orchestrator.domain import ids
from swe_fleet.orchestrator.domain.budget import answer_tokens
from swe_fleet.orchestrator.domain.council import Councils
from swe_fleet.orchestrator.domain.derivation import validate_derived_tasks
from swe_fleet.orchestrator.domain.messages import Outgoing, Step

# Moving a story to one of these stops the work on its earlier plans.
CANCELLING_STATES = frozenset({StoryState.DRAFT, StoryState.CARRY_OVER, StoryState.ARCHIVED})
# The phase agent commands carry before any transition of the story has been seen: a plan was approved.
PHASE_WHEN_UNKNOWN = StoryState.PLANNED
MAX_PREVIOUS_ANSWER_CHARS = 6000
# Transitions remembered per story to recognise re-published copies (a story rarely moves this often).
REMEMBERED_TRANSITIONS = 256


class DerivationStatus(StrEnum):
    DERIVING = "deriving"
    DERIVED = "derived"
    FAILED = "failed"
    CANCELLED = "cancelled"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Attempt(_Model):
    number: int
    command_id: str
    sent_at: float
    outcome: str = ""  # why it did not yield tasks ("" while waiting, "accepted" when it did)
    answer: dict[str, Any] | None = None  # an unusable answer, shown to the agent on its next attempt
    repair: str = ""  # the repair message the next attempt carries
    tokens: int | None = None  # what its answer reported (None until it answered)


class Derivation(_Model):
    derivation_id: str
    plan_id: str
    generation: int = 1
    approval_event_ids: list[str] = Field(default_factory=list)
    approved_seq: int
    approved_by: str
    plan: PlanApproved
    correlation_id: str | None = None
    status: DerivationStatus = DerivationStatus.DERIVING
    attempts: list[Attempt] = Field(default_factory=list)
    deadline: float | None = None
    tasks: list[TaskSpec] = Field(default_factory=list)
    reason: str = ""
    # Follow-ups that live outside this record (one KV key per deliberation), done idempotently.
    deliberations_created: bool = False
    cancel_reason: str | None = None
    deliberations_cancelled: bool = False

    def needs_follow_up(self) -> bool:
        """Derived tasks whose deliberations are not yet created, or not yet cancelled when they must be."""
        if self.status is not DerivationStatus.DERIVED:
            return False
        cancel_owed = self.cancel_reason is not None and not self.deliberations_cancelled
        return not self.deliberations_created or cancel_owed


class StoryRecord(_Model):
    story_id: str
    phase: StoryState | None = None
    phase_seq: int = 0
    # The latest transitions applied, by event id: a copy of one re-published later (a new stream
    # sequence, so it looks newer) must not move the phase back or cancel work.
    transition_event_ids: list[str] = Field(default_factory=list)
    cancel_seq: int = 0
    cancel_state: StoryState | None = None
    cancel_reason: str = ""
    derivations: dict[str, Derivation] = Field(default_factory=dict)
    outbox: list[Outgoing] = Field(default_factory=list)
    # The PO's budget for the story (None: the fleet's default) and the planning event that set it.
    token_budget: int | None = None
    token_budget_seq: int = 0

    @property
    def command_phase(self) -> str:
        return (self.phase or PHASE_WHEN_UNKNOWN).value

    def deriving(self) -> Iterator[Derivation]:
        return (d for d in self.derivations.values() if d.status is DerivationStatus.DERIVING)

    def needs_follow_up(self) -> bool:
        return bool(self.outbox) or any(d.needs_follow_up() for d in self.derivations.values())

    @property
    def derivation_tokens(self) -> int:
        """Tokens the deriving agents' answers reported, over every plan of the story."""
        return sum(a.tokens or 0 for d in self.derivations.values() for a in d.attempts)

    def budget(self, default: int | None) -> int | None:
        """The story's own budget if the PO set one, else the fleet's default (None: no budget)."""
        return self.token_budget if self.token_budget is not None else default


# ------------------------------------------------------------------ plan approved


def on_plan_approved(
    record: StoryRecord | None,
    approval: PlanApproved,
    *,
    event_id: str,
    seq: int,
    correlation_id: str | None,
    councils: Councils,
    now: float,
) -> Step[StoryRecord]:
    record = (record or StoryRecord(story_id=approval.story_id)).model_copy(deep=True)
    existing = record.derivations.get(approval.plan_id)
    if existing is not None and (
        existing.status in (DerivationStatus.DERIVING, DerivationStatus.DERIVED)
        or event_id in existing.approval_event_ids
        or seq <= existing.approved_seq
    ):
        return Step(record)  # a redelivery, a duplicate, or a plan already being worked on
    generation = existing.generation + 1 if existing else 1
    derivation = Derivation(
        derivation_id=ids.derivation_id(approval.story_id, approval.plan_id, generation),
        plan_id=approval.plan_id,
        generation=generation,
        approval_event_ids=[*(existing.approval_event_ids if existing else []), event_id],
        approved_seq=seq,
        approved_by=approval.approved_by,
        plan=approval,
        correlation_id=correlation_id,
    )
    record.derivations[approval.plan_id] = derivation
    sent: list[Outgoing] = []
    if seq < record.cancel_seq:
        _end(derivation, DerivationStatus.CANCELLED, f"cancelled: {record.cancel_reason}", record, now, sent)
    else:
        _send_attempt(record, derivation, councils, now, sent)
    return _step(record, sent)


# ------------------------------------------------------------------ the deriving agent answers


def on_derive_response(
    record: StoryRecord,
    response: AgentResponse,
    *,
    councils: Councils,
    now: float,
) -> Step[StoryRecord]:
    found = _attempt_for(record, response.command_id)
    if found is None:
        return Step(record)  # not ours, or the derivation already ended
    if response.failure is not None and found[1] is not found[0].attempts[-1]:
        return Step(record)  # an earlier attempt's failure: it was already given up on
    position = found[0].attempts.index(found[1])
    record = record.model_copy(deep=True)
    derivation = record.derivations[found[0].plan_id]  # the same attempt, in the copy we change
    attempt = derivation.attempts[position]
    current = attempt is derivation.attempts[-1]
    if attempt.tokens is None:
        attempt.tokens = answer_tokens(response)
    sent: list[Outgoing] = []
    if not isinstance(response, AgentResponseCompleted):
        attempt.outcome = f"the agent failed: {response.failure}"
        _retry_or_fail(record, derivation, councils, now, sent)
        return _step(record, sent)

    verdict = validate_derived_tasks(
        response.output,
        plan_id=derivation.plan_id,
        generation=derivation.generation,
        council_roles=list(councils.councils),
        plan_roles=derivation.plan.roles,
        max_estimate_hours=councils.derivation.max_estimate_hours,
        max_tasks=councils.derivation.max_tasks,
    )
    if verdict.ok:
        # A late answer to an earlier attempt is as good as any: take it and stop waiting.
        attempt.outcome = "accepted"
        derivation.tasks = list(verdict.tasks)
        derivation.status, derivation.deadline = DerivationStatus.DERIVED, None
        event = TasksDerived(
            story_id=record.story_id,
            plan_id=derivation.plan_id,
            tasks=derivation.tasks,
            attempts=len(derivation.attempts),
        )
        sent.append(
            Outgoing.of(
                subjects.TASKS_DERIVED, event, derivation.derivation_id, now, derivation.correlation_id
            )
        )
        return _step(record, sent)
    if not current:
        return Step(record)  # an unusable late answer: the current attempt is still running
    attempt.outcome = f"unusable answer: {verdict.summary()}"
    attempt.answer = _shortened(response.output)
    attempt.repair = verdict.repair_message()
    _retry_or_fail(record, derivation, councils, now, sent)
    return _step(record, sent)


def on_deadline(record: StoryRecord, *, councils: Councils, now: float) -> Step[StoryRecord]:
    """A deriving agent that stays silent past the deadline costs its attempt."""
    late = [d.plan_id for d in record.deriving() if d.deadline is not None and now >= d.deadline]
    if not late:
        return Step(record)
    record = record.model_copy(deep=True)
    sent: list[Outgoing] = []
    for plan_id in late:
        derivation = record.derivations[plan_id]
        derivation.attempts[-1].outcome = f"no answer within {councils.derivation.deadline_seconds:.0f}s"
        _retry_or_fail(record, derivation, councils, now, sent)
    return _step(record, sent)


def next_deadline(record: StoryRecord) -> float | None:
    deadlines = [d.deadline for d in record.deriving() if d.deadline is not None]
    return min(deadlines) if deadlines else None


# ------------------------------------------------------------------ the story moves


def on_story_transitioned(
    record: StoryRecord | None,
    transition: StoryTransitioned,
    *,
    seq: int,
    now: float,
    event_id: str | None = None,
) -> Step[StoryRecord]:
    record = (record or StoryRecord(story_id=transition.story_id)).model_copy(deep=True)
    if seq <= record.phase_seq or (event_id is not None and event_id in record.transition_event_ids):
        return Step(record)  # redelivered, older than what we know, or a re-published copy
    record.phase, record.phase_seq = transition.to_state, seq
    if event_id is not None:
        record.transition_event_ids = [*record.transition_event_ids, event_id][-REMEMBERED_TRANSITIONS:]
    sent: list[Outgoing] = []
    if transition.to_state in CANCELLING_STATES:
        reason = (
            f"story {transition.story_id} moved from {transition.from_state.value} to "
            f"{transition.to_state.value} by {transition.transitioned_by}"
            + (f" ({transition.reason})" if transition.reason else "")
        )
        record.cancel_seq, record.cancel_state, record.cancel_reason = seq, transition.to_state, reason
        for derivation in record.derivations.values():
            if derivation.approved_seq >= seq:
                continue
            if derivation.status is DerivationStatus.DERIVING:
                _end(derivation, DerivationStatus.CANCELLED, f"cancelled: {reason}", record, now, sent)
            elif derivation.status is DerivationStatus.DERIVED and derivation.cancel_reason is None:
                derivation.cancel_reason = reason
    return _step(record, sent)


# ------------------------------------------------------------------ the PO sets the budget


def on_token_budget_set(
    record: StoryRecord | None, budget: StoryTokenBudgetSet, *, seq: int
) -> Step[StoryRecord]:
    """The newest setting wins (PLANNING_EVENTS order); a redelivered or older one changes nothing."""
    record = record or StoryRecord(story_id=budget.story_id)
    if seq <= record.token_budget_seq:
        return Step(record)
    return Step(record.model_copy(update={"token_budget": budget.token_budget, "token_budget_seq": seq}))


# ------------------------------------------------------------------ helpers


def _attempt_for(record: StoryRecord, command_id: str) -> tuple[Derivation, Attempt] | None:
    for derivation in record.deriving():
        for attempt in derivation.attempts:
            if attempt.command_id == command_id:
                return derivation, attempt
    return None


def _retry_or_fail(
    record: StoryRecord, derivation: Derivation, councils: Councils, now: float, sent: list[Outgoing]
) -> None:
    if len(derivation.attempts) < councils.derivation.max_attempts:
        _send_attempt(record, derivation, councils, now, sent)
        return
    outcomes = "; ".join(f"attempt {a.number}: {a.outcome}" for a in derivation.attempts)
    reason = f"no usable tasks after {len(derivation.attempts)} attempt(s): {outcomes}"
    _end(derivation, DerivationStatus.FAILED, reason[:4000], record, now, sent)


def _end(
    derivation: Derivation,
    status: DerivationStatus,
    reason: str,
    record: StoryRecord,
    now: float,
    sent: list[Outgoing],
) -> None:
    derivation.status, derivation.reason, derivation.deadline = status, reason, None
    event = TaskDerivationFailed(
        story_id=record.story_id,
        plan_id=derivation.plan_id,
        reason=reason,
        attempts=len(derivation.attempts),
    )
    sent.append(
        Outgoing.of(
            subjects.TASK_DERIVATION_FAILED, event, derivation.derivation_id, now, derivation.correlation_id
        )
    )


def _send_attempt(
    record: StoryRecord, derivation: Derivation, councils: Councils, now: float, sent: list[Outgoing]
) -> None:
    number = len(derivation.attempts) + 1
    agent = councils.deriving_agent
    command_id = ids.command_id(derivation.derivation_id, CommandKind.DERIVE.value, number, agent)
    previous = derivation.attempts[-1] if derivation.attempts else None
    derivation.attempts.append(Attempt(number=number, command_id=command_id, sent_at=now))
    derivation.deadline = now + councils.derivation.deadline_seconds
    plan = derivation.plan
    inputs: dict[str, Any] = {
        "story": {"story_id": record.story_id, "phase": record.command_phase},
        "plan": {
            "plan_id": plan.plan_id,
            "description": plan.description,
            "acceptance_criteria": plan.acceptance_criteria,
            "technical_notes": plan.technical_notes,
            "notes": plan.notes,
            "approved_by": plan.approved_by,
        },
        "roles": [role.value for role in (plan.roles or list(councils.councils))],
        "max_tasks": councils.derivation.max_tasks,
        "max_estimate_hours": councils.derivation.max_estimate_hours,
        "attempt": number,
    }
    if previous is not None:
        # `feedback` is what the worker shows the model about its earlier attempt.
        inputs["feedback"] = previous.repair or (
            f"Your previous attempt gave no usable answer ({previous.outcome}). Answer with the JSON object."
        )
        if previous.answer is not None:
            inputs["previous_answer"] = previous.answer
    command = AgentCommand(
        command_id=command_id,
        kind=CommandKind.DERIVE.value,
        story_id=record.story_id,
        role=councils.derivation.role,
        agent_id=agent,
        round=number,
        phase=record.command_phase,
        inputs=inputs,
        output_schema=protocol.output_schema(CommandKind.DERIVE),
        token_budget=councils.derivation.token_budget,
        deadline_seconds=councils.derivation.deadline_seconds,
    )
    sent.append(Outgoing.of(subjects.AGENT_CMD_DERIVE, command, command_id, now, derivation.correlation_id))


def _shortened(answer: dict[str, Any]) -> dict[str, Any] | None:
    text = json.dumps(answer, ensure_ascii=False, default=str)
    if len(text) <= MAX_PREVIOUS_ANSWER_CHARS:
        return answer
    return {"truncated_answer": text[:MAX_PREVIOUS_ANSWER_CHARS]}


def _step(record: StoryRecord, sent: list[Outgoing]) -> Step[StoryRecord]:
    record.outbox.extend(sent)
    return Step(record, tuple(sent))


def mark_follow_up_done(
    record: StoryRecord | None, plan_id: str, *, created: bool, cancelled: bool
) -> Step[StoryRecord | None]:
    """Record that a derivation's deliberations exist (and, if asked, were cancelled)."""
    if record is None or plan_id not in record.derivations:
        return Step(record)
    derivation = record.derivations[plan_id]
    update: dict[str, bool] = {}
    if created and not derivation.deliberations_created:
        update["deliberations_created"] = True
    if cancelled and not derivation.deliberations_cancelled:
        update["deliberations_cancelled"] = True
    if not update:
        return Step(record)
    record = record.model_copy(deep=True)
    record.derivations[plan_id] = record.derivations[plan_id].model_copy(update=update)
    return Step(record)
