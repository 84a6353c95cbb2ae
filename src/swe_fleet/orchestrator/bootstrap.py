"""Wiring the Orchestrator: settings and a NATS connection in, a hostable Service out.

    service = await build(settings, nc, endpoints)    # then ServiceHost([service], ...).serve(stop)

Consumers (durable pull, shared by every replica): `orchestrator-plan-approved`
(planning.plan.approved), `orchestrator-story-transitioned` (planning.story.transitioned),
`orchestrator-story-token-budget` (planning.story.token_budget_set: ADR 0209),
`orchestrator-agent-responses` (agent.response.>) and `orchestrator-task-rework-requested`
(planning.task.rework_requested: re-dispatch, ADR 0703). One loop: the deadline/settling timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NATS

from swe_fleet.backbone.consumer import ConsumerRuntime
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.provisioning import ensure_streams
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events import streams, subjects
from swe_fleet.events.payloads import (
    AgentResponse,
    PlanApproved,
    StoryTokenBudgetSet,
    StoryTransitioned,
    TaskReworkRequested,
)
from swe_fleet.host.service import CheckResult, Endpoints, Health, Service
from swe_fleet.orchestrator.adapters.outbox_publisher import OutboxPublisher
from swe_fleet.orchestrator.adapters.state_store import StateStore
from swe_fleet.orchestrator.app.orchestrator import Orchestrator
from swe_fleet.orchestrator.app.redispatcher import Redispatcher
from swe_fleet.orchestrator.app.sweeper import Sweeper
from swe_fleet.orchestrator.domain.council import Councils, load_councils
from swe_fleet.settings import FleetSettings

PRODUCER = "orchestrator"
# A crashed replica's batch goes to another replica after this long; a live one keeps its lease
# with in-progress acks, so a short wait costs nothing while handlers run.
ACK_WAIT_SECONDS = 10.0

PLAN_APPROVED = ConsumerSpec(
    durable="orchestrator-plan-approved",
    stream=streams.PLANNING_EVENTS,
    filter_subject=subjects.PLAN_APPROVED,
    description="Orchestrator: derive tasks from approved plans",
    ack_wait_seconds=ACK_WAIT_SECONDS,
    batch_size=20,
)
STORY_TRANSITIONED = ConsumerSpec(
    durable="orchestrator-story-transitioned",
    stream=streams.PLANNING_EVENTS,
    filter_subject=subjects.STORY_TRANSITIONED,
    description="Orchestrator: follow story phases; cancel work on stories moved back",
    ack_wait_seconds=ACK_WAIT_SECONDS,
    batch_size=50,
)
STORY_TOKEN_BUDGET = ConsumerSpec(
    durable="orchestrator-story-token-budget",
    stream=streams.PLANNING_EVENTS,
    filter_subject=subjects.STORY_TOKEN_BUDGET_SET,
    description="Orchestrator: hold councils to the PO's token budget; start waiting ones after a raise",
    ack_wait_seconds=ACK_WAIT_SECONDS,
    batch_size=20,
)
AGENT_RESPONSES = ConsumerSpec(
    durable="orchestrator-agent-responses",
    stream=streams.AGENT_RESPONSES,
    filter_subject="agent.response.>",
    description="Orchestrator: agents' answers to derive and council commands",
    ack_wait_seconds=ACK_WAIT_SECONDS,
    batch_size=50,
    fetch_wait_seconds=0.5,
)
REWORK_REQUESTED = ConsumerSpec(
    durable="orchestrator-task-rework-requested",
    stream=streams.PLANNING_EVENTS,
    filter_subject=subjects.TASK_REWORK_REQUESTED,
    description="Orchestrator: dispatch a task again (changes requested, story sent back)",
    ack_wait_seconds=ACK_WAIT_SECONDS,
    batch_size=20,
)
CONSUMERS = (PLAN_APPROVED, STORY_TRANSITIONED, STORY_TOKEN_BUDGET, AGENT_RESPONSES, REWORK_REQUESTED)


def councils_from(settings: FleetSettings) -> Councils:
    """The councils file (validated: a bad entry stops start-up naming it) with the settings' overrides."""
    return load_councils(settings.orchestrator_councils).with_overrides(
        agents=settings.council_agents,
        rounds=settings.council_rounds,
        judges_per_proposal=settings.council_judges,
        deadline_seconds=settings.council_deadline_seconds,
    )


# Over 60 lines on purpose: the orchestrator's wiring, read top to bottom (stores, then one consumer
# entry per durable); splitting it would scatter the list a newcomer comes here to read.
async def build(
    settings: FleetSettings,
    nc: NATS,
    endpoints: Endpoints,
    *,
    councils: Councils | None = None,
    clock: Callable[[], float] = time.time,
) -> Service:
    """`councils` and `clock` are test seams; the fleet builds it from the settings alone."""
    councils = councils or councils_from(settings)
    js = nc.jetstream()
    await ensure_streams(js, replicas=settings.resolved_nats_replicas)
    store = await StateStore.open(js, settings.orchestrator_bucket, replicas=settings.resolved_nats_replicas)
    publisher = EventPublisher(js, PRODUCER)
    orchestrator = Orchestrator(
        store,
        OutboxPublisher(publisher),
        councils,
        clock=clock,
        story_token_budget=settings.story_token_budget,
    )
    dead_letters = DeadLetterWriter(publisher)
    # One statement each: inside an annotated list mypy would infer Any and not check handler vs payload.
    approvals = ConsumerRuntime(
        nc, PLAN_APPROVED, orchestrator.handle_plan_approvals, dead_letters, payload_type=PlanApproved
    )
    transitions = ConsumerRuntime(
        nc,
        STORY_TRANSITIONED,
        orchestrator.handle_story_transitions,
        dead_letters,
        payload_type=StoryTransitioned,
    )
    budgets = ConsumerRuntime(
        nc,
        STORY_TOKEN_BUDGET,
        orchestrator.handle_token_budgets,
        dead_letters,
        payload_type=StoryTokenBudgetSet,
    )
    responses = ConsumerRuntime(
        nc, AGENT_RESPONSES, orchestrator.handle_agent_responses, dead_letters, payload_type=AgentResponse
    )
    reworks = ConsumerRuntime(
        nc,
        REWORK_REQUESTED,
        Redispatcher(OutboxPublisher(publisher)).handle,
        dead_letters,
        payload_type=TaskReworkRequested,
    )
    consumers: list[ConsumerRuntime[Any]] = [approvals, transitions, budgets, responses, reworks]

    async def responses_backlog() -> int:
        info = await js.consumer_info(AGENT_RESPONSES.stream, AGENT_RESPONSES.durable)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    sweeper = Sweeper(
        orchestrator,
        store,
        responses_backlog=responses_backlog,
        tick_seconds=settings.orchestrator_tick_seconds,
    )

    async def state_check() -> CheckResult:
        return CheckResult(Health.OK, await store.ping())

    async def timer_check() -> CheckResult:
        if sweeper.caught_up.is_set():
            return CheckResult(Health.OK, "following every deliberation")
        return CheckResult(Health.DEGRADED, "still reading the in-flight deliberations")

    return Service(
        name="orchestrator",
        consumers=consumers,
        loops=[sweeper.run],
        checks={"state": state_check, "timer": timer_check},
    )
