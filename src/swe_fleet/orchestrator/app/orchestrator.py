"""The Orchestrator's use cases: what it does with a plan approval, a story transition, an agent's answer.

Every use case has the same shape: (1) apply a pure transition to the stored state by
compare-and-set — the messages it owes go into the state's outbox in the same write; (2) settle:
publish the outbox under deterministic ids, remove what was published, and do the follow-ups the
state asks for (create a derivation's deliberations, cancel them). Step 2 is driven by the stored
state alone, so a redelivered event, the timer loop, or another replica can finish it after a crash,
and doing it twice changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

from swe_fleet.backbone.consumer import Delivery
from swe_fleet.events.payloads import (
    AgentResponse,
    AgentResponseCompleted,
    CommandKind,
    PlanApproved,
    StoryTokenBudgetSet,
    StoryTransitioned,
    TaskSpec,
)
from swe_fleet.events.probes import is_probe
from swe_fleet.faults import fault_point
from swe_fleet.orchestrator.app.ports import OutboxPublisher, StateStore
from swe_fleet.orchestrator.domain import deliberation as deliberations
from swe_fleet.orchestrator.domain import ids
from swe_fleet.orchestrator.domain import probe as probes
from swe_fleet.orchestrator.domain import story as stories
from swe_fleet.orchestrator.domain.budget import (
    BudgetDecision,
    CouncilCost,
    committed_tokens,
    estimate_tokens,
)
from swe_fleet.orchestrator.domain.budgeted_start import resume, start_within_budget
from swe_fleet.orchestrator.domain.council import Councils
from swe_fleet.orchestrator.domain.deliberation_state import DeliberationState
from swe_fleet.orchestrator.domain.messages import Outgoing, Step, without_published
from swe_fleet.orchestrator.domain.state_keys import deliberation_key, story_key
from swe_fleet.orchestrator.domain.story import Derivation, StoryRecord

log = logging.getLogger(__name__)


class Orchestrator:
    def __init__(
        self,
        store: StateStore,
        outbox: OutboxPublisher,
        councils: Councils,
        *,
        clock: Callable[[], float] = time.time,
        story_token_budget: int | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.councils = councils
        self.clock = clock
        # Every story's budget unless the PO set its own (FLEET_STORY_TOKEN_BUDGET; None: no budget).
        self.story_token_budget = story_token_budget

    # ------------------------------------------------------------------ consumers' handlers

    async def handle_plan_approvals(self, deliveries: Sequence[Delivery[PlanApproved]]) -> None:
        for delivery in deliveries:
            approval = delivery.payload
            envelope = delivery.envelope
            if is_probe(approval.story_id):
                # `fleet verify`'s probe goes on to an agent worker (context, no LLM) and comes back;
                # deriving tasks for it would spend LLM time and fill the graph with a health check.
                command = probes.probe_command(
                    approval, at=envelope.occurred_at.timestamp(), correlation_id=envelope.correlation_id
                )
                await self.outbox.publish([command], correlation_id=envelope.correlation_id)
                log.info("probe plan approval %s: probe command sent", approval.plan_id)
                continue

            def approve(
                record: StoryRecord | None, approval=approval, envelope=envelope, seq=delivery.stream_seq
            ):
                return stories.on_plan_approved(
                    record,
                    approval,
                    event_id=envelope.event_id,
                    seq=seq,
                    correlation_id=envelope.correlation_id,
                    councils=self.councils,
                    now=self.clock(),
                )

            await self._change_story(approval.story_id, approve)
            await self.settle_story(approval.story_id)

    async def handle_story_transitions(self, deliveries: Sequence[Delivery[StoryTransitioned]]) -> None:
        for delivery in deliveries:
            transition = delivery.payload

            def move(
                record: StoryRecord | None,
                transition=transition,
                seq=delivery.stream_seq,
                event_id=delivery.envelope.event_id,
            ):
                return stories.on_story_transitioned(
                    record, transition, seq=seq, now=self.clock(), event_id=event_id
                )

            changed = await self._change_story(transition.story_id, move)
            await self.settle_story(transition.story_id)
            if changed is not None and transition.to_state not in stories.CANCELLING_STATES:
                await self._follow_story_phase(changed)

    async def handle_token_budgets(self, deliveries: Sequence[Delivery[StoryTokenBudgetSet]]) -> None:
        """The PO set a story's budget: waiting councils that now fit start (cut down if they must)."""
        for delivery in deliveries:
            budget = delivery.payload

            def set_budget(record: StoryRecord | None, budget=budget, seq=delivery.stream_seq):
                return stories.on_token_budget_set(record, budget, seq=seq)

            await self._change_story(budget.story_id, set_budget)
            await self.resume_waiting(budget.story_id)

    async def handle_agent_responses(self, deliveries: Sequence[Delivery[AgentResponse]]) -> None:
        """Responses are grouped per story or deliberation: one compare-and-set per group and batch."""
        by_story: dict[str, list[AgentResponse]] = defaultdict(list)
        by_deliberation: dict[str, list[AgentResponse]] = defaultdict(list)
        for delivery in deliveries:
            response = delivery.payload
            if response.kind is CommandKind.PROBE:
                await self._probe_answered(delivery)
            elif response.kind is CommandKind.DERIVE:
                by_story[response.story_id].append(response)
            elif response.deliberation_id:
                by_deliberation[response.deliberation_id].append(response)
            else:
                log.warning(
                    "response %s (%s) names no deliberation: ignored", response.command_id, response.kind
                )
        await asyncio.gather(
            *(self._derive_answers(story_id, answers) for story_id, answers in by_story.items()),
            *(self._deliberation_answers(d_id, answers) for d_id, answers in by_deliberation.items()),
        )

    async def _probe_answered(self, delivery: Delivery[AgentResponse]) -> None:
        response = delivery.payload
        plan_id = ""
        if isinstance(response, AgentResponseCompleted):
            plan_id = str(response.output.get("plan_id") or "")
        event = probes.probe_answered(response, plan_id=plan_id, at=delivery.envelope.occurred_at.timestamp())
        await self.outbox.publish([event], correlation_id=delivery.envelope.correlation_id)

    # ------------------------------------------------------------------ timers (called by the sweeper)

    async def story_deadline(self, story_id: str) -> None:
        await self._change_story(
            story_id,
            lambda record: (
                Step(record)
                if record is None
                else stories.on_deadline(record, councils=self.councils, now=self.clock())
            ),
        )
        await self.settle_story(story_id)

    async def deliberation_deadline(self, deliberation_id: str) -> None:
        changed = await self._change_deliberation(
            deliberation_id,
            lambda state: Step(state) if state is None else deliberations.on_deadline(state, self.clock()),
        )
        await self.settle_deliberation(deliberation_id)
        if changed is not None and changed.status.terminal:
            await self.resume_waiting(changed.story_id)  # it may have left budget unspent

    # ------------------------------------------------------------------ settling

    async def settle_story(self, story_id: str) -> None:
        record = await self.store.story(story_id)
        if record is None:
            return
        if record.outbox:
            await self._flush(story_key(story_id), StoryRecord, record.outbox)
        for derivation in record.derivations.values():
            if derivation.needs_follow_up():
                await self._follow_up(record, derivation)

    async def settle_deliberation(self, deliberation_id: str) -> None:
        state = await self.store.deliberation(deliberation_id)
        if state is not None and state.outbox:
            await self._flush(deliberation_key(deliberation_id), DeliberationState, state.outbox)

    async def _flush(self, key: str, model: type, outbox: list[Outgoing]) -> None:
        published: list[str] = []
        for correlation_id in dict.fromkeys(m.correlation_id for m in outbox):
            group = [m for m in outbox if m.correlation_id == correlation_id]
            published += await self.outbox.publish(group, correlation_id=correlation_id)
        fault_point("orchestrator.after_publish")
        await self.store.mutate(key, model, lambda state: without_published(state, set(published)))

    async def _follow_up(self, record: StoryRecord, derivation: Derivation) -> None:
        """Create the derivation's deliberations (as tombstones if the story moved back) or cancel them."""
        cancel_reason = derivation.cancel_reason
        if not derivation.deliberations_created:
            # Deliberations created before a crash are in this figure already; new ones are added below.
            committed = await self._committed_tokens(record)
            for task in derivation.tasks:
                started, decision = self._start_deliberation(record, derivation, task, committed)
                if cancel_reason is not None:
                    started = deliberations.tombstone(started, cancel_reason, record.cancel_state)
                created = await self.store.create(deliberation_key(started.deliberation_id), started)
                if created:
                    committed += decision.estimate if decision.starts and cancel_reason is None else 0
                    fault_point("orchestrator.after_deliberation_created")
                elif cancel_reason is not None:
                    await self._cancel_deliberation(started.deliberation_id, cancel_reason, record)
                await self.settle_deliberation(started.deliberation_id)
        elif cancel_reason is not None:
            for task in derivation.tasks:
                await self._cancel_deliberation(ids.deliberation_id(task.task_id), cancel_reason, record)
        done = cancel_reason is not None
        await self.store.mutate(
            story_key(record.story_id),
            StoryRecord,
            lambda current: stories.mark_follow_up_done(
                current, derivation.plan_id, created=True, cancelled=done
            ),
        )

    def _start_deliberation(
        self, record: StoryRecord, derivation: Derivation, task: TaskSpec, committed: int
    ) -> tuple[DeliberationState, BudgetDecision]:
        step, decision = start_within_budget(
            deliberation_id=ids.deliberation_id(task.task_id),
            story_id=record.story_id,
            plan_id=derivation.plan_id,
            task=task,
            acceptance_criteria=derivation.plan.acceptance_criteria,
            council=self.councils.for_role(task.role),
            story_phase=record.command_phase,
            correlation_id=derivation.correlation_id,
            now=self.clock(),
            budget=record.budget(self.story_token_budget),
            committed=committed,
        )
        return step.state, decision

    async def _story_deliberations(self, record: StoryRecord) -> list[DeliberationState]:
        """Every deliberation of the story's derived tasks that exists (one KV read each)."""
        found = []
        for derivation in record.derivations.values():
            for task in derivation.tasks:
                state = await self.store.deliberation(ids.deliberation_id(task.task_id))
                if state is not None:
                    found.append(state)
        return found

    async def _committed_tokens(self, record: StoryRecord) -> int:
        costs = [
            CouncilCost(
                spent=state.spent_tokens,
                estimate=estimate_tokens(state.council),
                running=state.status is deliberations.Status.DELIBERATING,
            )
            for state in await self._story_deliberations(record)
        ]
        return committed_tokens(record.derivation_tokens, costs)

    async def resume_waiting(self, story_id: str) -> None:
        """Start, one by one and in task order, the story's waiting councils that the budget now allows."""
        record = await self.store.story(story_id)
        if record is None:
            return
        for state in await self._story_deliberations(record):
            if state.status is not deliberations.Status.WAITING_FOR_BUDGET:
                continue
            committed = await self._committed_tokens(record)
            budget = record.budget(self.story_token_budget)
            await self._change_deliberation(
                state.deliberation_id,
                lambda current, budget=budget, committed=committed: (
                    Step(current)
                    if current is None
                    else resume(current, budget=budget, committed=committed, now=self.clock())
                ),
            )
            await self.settle_deliberation(state.deliberation_id)

    async def _cancel_deliberation(self, deliberation_id: str, reason: str, record: StoryRecord) -> None:
        await self._change_deliberation(
            deliberation_id,
            lambda state: (
                Step(state)
                if state is None
                else deliberations.cancel(state, reason, record.cancel_state, self.clock())
            ),
        )
        await self.settle_deliberation(deliberation_id)

    async def _follow_story_phase(self, record: StoryRecord) -> None:
        """Commands not yet sent will carry the story's new phase (the workers' context depends on it)."""
        if record.phase is None:
            return
        phase = record.phase.value
        for derivation in record.derivations.values():
            if derivation.deliberations_created and derivation.cancel_reason is None:
                for task in derivation.tasks:
                    await self._change_deliberation(
                        ids.deliberation_id(task.task_id),
                        lambda state: (
                            Step(state)
                            if state is None or state.status.terminal
                            else Step(deliberations.with_story_phase(state, phase))
                        ),
                    )

    # ------------------------------------------------------------------ answers

    async def _derive_answers(self, story_id: str, answers: list[AgentResponse]) -> None:
        def fold(record: StoryRecord | None) -> Step[StoryRecord | None]:
            if record is None:
                return Step(None)
            messages: list[Outgoing] = []
            for answer in answers:
                step = stories.on_derive_response(record, answer, councils=self.councils, now=self.clock())
                record, messages = step.state, [*messages, *step.messages]
            return Step(record, tuple(messages))

        await self._change_story(story_id, fold)
        await self.settle_story(story_id)

    async def _deliberation_answers(self, deliberation_id: str, answers: list[AgentResponse]) -> None:
        def fold(state: DeliberationState | None) -> Step[DeliberationState | None]:
            if state is None:
                return Step(None)
            messages: list[Outgoing] = []
            for answer in answers:
                step = deliberations.on_response(state, answer, self.clock())
                state, messages = step.state, [*messages, *step.messages]
            return Step(state, tuple(messages))

        mutation = await self._change_deliberation(deliberation_id, fold)
        if mutation is None and await self.store.deliberation(deliberation_id) is None:
            log.warning("answers for unknown deliberation %s ignored", deliberation_id)
        await self.settle_deliberation(deliberation_id)
        if mutation is not None and mutation.status.terminal:
            # It may have spent less than it might have: a council waiting on the budget may now fit.
            await self.resume_waiting(mutation.story_id)

    # ------------------------------------------------------------------ state writes

    async def _change_story(self, story_id: str, transition) -> StoryRecord | None:
        mutation = await self.store.mutate(story_key(story_id), StoryRecord, transition)
        if mutation.changed:
            fault_point("orchestrator.after_state_write")
            return mutation.state
        return None

    async def _change_deliberation(self, deliberation_id: str, transition) -> DeliberationState | None:
        mutation = await self.store.mutate(deliberation_key(deliberation_id), DeliberationState, transition)
        if mutation.changed:
            fault_point("orchestrator.after_state_write")
            return mutation.state
        return None
