"""Test doubles and helpers for the Orchestrator's integration tests (real nats-server, no LLM).

`ScriptedWorker` stands in for the agent workers: a real durable pull consumer of `agent.cmd.>`
that answers every command with a valid protocol output built from its inputs
(tests.unit.orchestrator.answers), or not at all, or with a failure, or slowly, as the test's
script says. The LLM path is NOT under test here: what is under test is what the Orchestrator does
with answers and with their absence. The real workers and LLM are covered by their own tests and
by the end-to-end test.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from swe_fleet.backbone.connection import connect
from swe_fleet.backbone.consumer import ConsumerRuntime, Delivery
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events import subjects
from swe_fleet.events.envelope import Envelope, decode_event, deterministic_event_id
from swe_fleet.events.payloads import (
    AgentCommand,
    AgentResponseCompleted,
    AgentResponseFailed,
    PlanApproved,
    Role,
)
from swe_fleet.host.runner import ServiceHost
from swe_fleet.orchestrator.bootstrap import build
from swe_fleet.orchestrator.domain.council import Councils, load_councils
from swe_fleet.settings import FleetSettings
from tests.unit.orchestrator.answers import answer


@dataclass
class Script:
    """How the stand-in agents behave."""

    silent: Callable[[AgentCommand], bool] = lambda command: False
    failing: Callable[[AgentCommand], bool] = lambda command: False
    derive_outputs: list[dict[str, Any]] = field(default_factory=list)  # per derive attempt, then valid
    delay_seconds: float = 0.0
    broken_artifact_agents: frozenset[str] = frozenset()


class ScriptedWorker:
    def __init__(self, nc: NATS, script: Script | None = None, *, durable: str = "scripted-worker") -> None:
        self.script = script or Script()
        self.commands: list[AgentCommand] = []
        self._derive_attempts = 0
        js = nc.jetstream()
        self._publisher = EventPublisher(js, "scripted-worker")
        spec = ConsumerSpec(
            durable=durable,
            stream="AGENT_COMMANDS",
            filter_subject="agent.cmd.>",
            ack_wait_seconds=10,
            batch_size=50,
            fetch_wait_seconds=0.5,
        )
        self.runtime = ConsumerRuntime(nc, spec, self._handle, DeadLetterWriter(self._publisher))
        self._task: asyncio.Task | None = None

    def kinds(self) -> Counter[str]:
        return Counter(command.kind for command in self.commands)

    async def __aenter__(self) -> ScriptedWorker:
        self._task = asyncio.create_task(self.runtime.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.runtime.stop()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)

    async def _handle(self, deliveries: Sequence[Delivery]) -> None:
        await asyncio.gather(*(self._answer(delivery) for delivery in deliveries))

    async def _answer(self, delivery: Delivery) -> None:
        command = delivery.payload
        assert isinstance(command, AgentCommand)
        self.commands.append(command)
        if self.script.silent(command):
            return
        if self.script.delay_seconds:
            await asyncio.sleep(self.script.delay_seconds)
        common = {
            "command_id": command.command_id,
            "kind": command.kind,
            "story_id": command.story_id,
            "task_id": command.task_id,
            "deliberation_id": command.deliberation_id,
            "agent_id": command.agent_id,
            "worker_id": "scripted",
        }
        if self.script.failing(command):
            payload: Any = AgentResponseFailed(**common, error="scripted failure")
            subject = subjects.AGENT_RESPONSE_FAILED
        else:
            output = answer(
                command.model_dump(mode="json"), broken_artifact_agents=self.script.broken_artifact_agents
            )
            if command.kind == "derive":
                self._derive_attempts += 1
                if self._derive_attempts <= len(self.script.derive_outputs):
                    output = self.script.derive_outputs[self._derive_attempts - 1]
            payload = AgentResponseCompleted(**common, output=output)
            subject = subjects.AGENT_RESPONSE_COMPLETED
        # A redelivered command gets the same answer id: JetStream keeps one answer per command.
        event_id = deterministic_event_id(f"answer:{command.command_id}", delivery.envelope.occurred_at)
        await self._publisher.publish(subject, payload, event_id=event_id)


def fast_councils(*, agents: int = 3, rounds: int = 1, deadline: float = 30.0) -> Councils:
    return load_councils().with_overrides(agents=agents, rounds=rounds, deadline_seconds=deadline)


class RunningOrchestrator:
    """An orchestrator replica in this process, with its own NATS connection."""

    def __init__(self, url: str, councils: Councils, *, bucket: str = "FLEET_ORCHESTRATOR") -> None:
        self.url, self.councils, self.bucket = url, councils, bucket
        self.stop = asyncio.Event()
        self.service: Any = None

    async def __aenter__(self) -> RunningOrchestrator:
        self.nc = await connect(self.url, "orchestrator-test", wait_seconds=5)
        settings = FleetSettings(orchestrator_tick_seconds=0.1, orchestrator_bucket=self.bucket)
        self.service = await build(settings, self.nc, councils=self.councils)
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


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 60.0, what: str = "") -> None:
    """Wait until `check()` holds (a liveness bound, not a speed assertion)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached within {within:.0f}s: {what}")


async def consumer_drained(js: JetStreamContext, stream: str, durable: str) -> bool:
    info = await js.consumer_info(stream, durable)
    return not info.num_pending and not info.num_ack_pending
