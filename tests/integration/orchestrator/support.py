"""Helpers for the Orchestrator's integration tests (real nats-server, no LLM).

`ScriptedWorker` (fleet_testing.stand_in.worker.StandInWorker) stands in for the agent
workers: a real durable pull consumer of `agent.cmd.>` that answers every command with a valid
protocol output built from its inputs, or not at all, or with a failure, or slowly, as the test's
script says. The LLM path is NOT under test here: what is under test is what the Orchestrator does
with answers and with their absence. The real workers and LLM are covered by their own tests and
by the end-to-end test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from fleet_testing.stand_in.worker import Script, StandInWorker
from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events import subjects
from swe_fleet.events.envelope import Envelope, decode_event
from swe_fleet.events.payloads import PlanApproved, Role
from swe_fleet.host.runner import ServiceHost
from swe_fleet.host.service import Endpoints
from swe_fleet.orchestrator.bootstrap import build
from swe_fleet.orchestrator.domain.council import Councils, load_councils
from swe_fleet.settings import FleetSettings

# The agents here are the stand-in worker: the LLM path is not under test in these tests.
ScriptedWorker = StandInWorker
__all__ = ["Script", "ScriptedWorker"]


def fast_councils(*, agents: int = 3, rounds: int = 1, judges: int = 2, deadline: float = 30.0) -> Councils:
    """The whole protocol (critique, revision, two judges) whatever the packaged default, which is leaner."""
    return load_councils().with_overrides(
        agents=agents, rounds=rounds, judges_per_proposal=judges, deadline_seconds=deadline
    )


class RunningOrchestrator:
    """An orchestrator replica in this process, with its own NATS connection."""

    def __init__(
        self,
        url: str,
        councils: Councils,
        *,
        bucket: str = "FLEET_ORCHESTRATOR",
        story_token_budget: int | None = None,
    ) -> None:
        self.url, self.councils, self.bucket = url, councils, bucket
        self.story_token_budget = story_token_budget
        self.stop = asyncio.Event()
        self.service: Any = None

    async def __aenter__(self) -> RunningOrchestrator:
        self.nc = await connect(self.url, "orchestrator-test", wait_seconds=5)
        settings = FleetSettings(
            orchestrator_tick_seconds=0.1,
            orchestrator_bucket=self.bucket,
            story_token_budget=self.story_token_budget,
        )
        endpoints = Endpoints.from_settings(settings)
        self.service = await build(settings, self.nc, endpoints, councils=self.councils)
        started = asyncio.Event()
        self._task = asyncio.create_task(
            ServiceHost([self.service], http_host=None, http_port=None).serve(self.stop, started)
        )
        await started.wait()
        return self

    def processed(self, durable: str) -> int:
        return next(c.stats.processed for c in self.service.consumers if c.spec.durable == durable)

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 15)
        await self.nc.close()


async def publish_approval(
    js: JetStreamContext, *, story_id: str, plan_id: str, roles: Sequence[Role], event_id: str | None = None
) -> Envelope:
    approval = PlanApproved(
        story_id=story_id,
        plan_id=plan_id,
        approved_by="po@example.com",
        roles=list(roles),
        description="Let customers export their invoices as a CSV file",
        acceptance_criteria=["Invoices export to a CSV file", "Totals match the ledger"],
    )
    publisher = EventPublisher(js, "planning-test")
    envelope = publisher.envelope(subjects.PLAN_APPROVED, approval, event_id=event_id)
    await publisher.publish_envelope(envelope)
    return envelope


async def stream_events(js: JetStreamContext, stream: str, subject: str | None = None) -> list[Envelope]:
    """Every message of a stream (optionally one subject), decoded, in stream order."""
    info = await js.stream_info(stream)
    envelopes = []
    for seq in range(info.state.first_seq or 1, (info.state.last_seq or 0) + 1):
        try:
            raw = await js.get_msg(stream, seq)
        except NotFoundError:
            continue
        if subject is None or raw.subject == subject:
            envelopes.append(decode_event(raw.subject or "", raw.data or b""))
    return envelopes


async def orchestration_events(js: JetStreamContext, subject: str) -> list[Envelope]:
    return await stream_events(js, "ORCHESTRATOR_EVENTS", subject)


async def consumer_drained(js: JetStreamContext, stream: str, durable: str) -> bool:
    info = await js.consumer_info(stream, durable)
    return not info.num_pending and not info.num_ack_pending
