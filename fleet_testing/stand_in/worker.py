"""A stand-in agent worker: a real durable pull consumer of `agent.cmd.>` answering without an LLM.

It answers each command with a valid output for its kind (stand_in.answers), after the latency its
script gives, or fails it, or stays silent, as scripted. Like the real worker it runs several
pullers on one durable so a council's commands are worked on together, and it reports the
"LLM call" interval in `usage` (the time it spent waiting) so overhead can be measured against it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NATS

from fleet_testing.stand_in.answers import answer
from swe_fleet.backbone.consumer import ConsumerRuntime, Delivery
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.events import streams, subjects
from swe_fleet.events.envelope import deterministic_event_id, utc_now
from swe_fleet.events.payloads import (
    AgentCommand,
    AgentResponseCompleted,
    AgentResponseFailed,
    CommandKind,
    LlmUsage,
)


@dataclass
class Script:
    """How the stand-in agents behave (every hook gets the command)."""

    silent: Callable[[AgentCommand], bool] = lambda command: False
    failing: Callable[[AgentCommand], bool] = lambda command: False
    latency: Callable[[AgentCommand], float] = lambda command: 0.0
    derive_outputs: list[dict[str, Any]] = field(default_factory=list)  # per derive attempt, then valid
    broken_artifact_agents: frozenset[str] = frozenset()
    delay_seconds: float = 0.0  # added to every answer's latency
    # (prompt, completion) tokens an answer reports, as an LLM server's usage would
    tokens: Callable[[AgentCommand], tuple[int, int]] = lambda command: (0, 0)


class StandInWorker:
    def __init__(
        self, nc: NATS, script: Script | None = None, *, durable: str = "stand-in-worker", pullers: int = 16
    ) -> None:
        self.script = script or Script()
        self.commands: list[AgentCommand] = []
        self._derive_attempts = 0
        self._publisher = EventPublisher(nc.jetstream(), "stand-in-worker")
        spec = ConsumerSpec(
            durable=durable,
            stream=streams.AGENT_COMMANDS,
            filter_subject="agent.cmd.>",
            ack_wait_seconds=10,
            batch_size=1,
            fetch_wait_seconds=0.5,
        )
        dead_letters = DeadLetterWriter(self._publisher)
        self.runtimes = [
            ConsumerRuntime(nc, spec, self._handle, dead_letters, payload_type=AgentCommand)
            for _ in range(pullers)
        ]
        self._tasks: list[asyncio.Task] = []

    def kinds(self) -> Counter[str]:
        return Counter(command.kind for command in self.commands)

    async def __aenter__(self) -> StandInWorker:
        self._tasks = [asyncio.create_task(runtime.run()) for runtime in self.runtimes]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for runtime in self.runtimes:
            runtime.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 10)

    async def _handle(self, deliveries: Sequence[Delivery[AgentCommand]]) -> None:
        await asyncio.gather(*(self._answer(delivery) for delivery in deliveries))

    async def _answer(self, delivery: Delivery[AgentCommand]) -> None:
        command = delivery.payload
        self.commands.append(command)
        if self.script.silent(command):
            return
        started = utc_now()
        wait = self.script.delay_seconds + self.script.latency(command)
        if wait > 0:
            await asyncio.sleep(wait)
        prompt, completion = self.script.tokens(command)
        usage = LlmUsage(
            model="stand-in",
            prompt_tokens=prompt,
            completion_tokens=completion,
            latency_ms=wait * 1000,
            started_at=started,
            ended_at=utc_now(),
        )
        payload: AgentResponseCompleted | AgentResponseFailed
        if self.script.failing(command):
            payload = AgentResponseFailed.answering(
                command, worker_id="stand-in", error="scripted failure", usage=usage
            )
            subject = subjects.AGENT_RESPONSE_FAILED
        else:
            broken = self.script.broken_artifact_agents
            output = answer(command.model_dump(mode="json"), broken_artifact_agents=broken)
            if command.kind is CommandKind.DERIVE:
                self._derive_attempts += 1
                if self._derive_attempts <= len(self.script.derive_outputs):
                    output = self.script.derive_outputs[self._derive_attempts - 1]
            payload = AgentResponseCompleted.answering(
                command, worker_id="stand-in", output=output, usage=usage
            )
            subject = subjects.AGENT_RESPONSE_COMPLETED
        # A redelivered command gets the same answer id: JetStream keeps one answer per command.
        event_id = deterministic_event_id(f"answer:{command.command_id}", delivery.envelope.occurred_at)
        await self._publisher.publish(subject, payload, event_id=event_id)
