"""The agent workers' batch handler: answer each fetched command, publish one response per command.

Any number of worker processes share the `agent-workers` durable. A batch's commands are answered
concurrently (the LLM client's limit bounds the calls); the consumer runtime acks the batch when
this handler returns, and keeps its lease with in-progress acks while the LLM works.

Every command gets an answer, never silence: a failure of the agent, a timeout, a command that
keeps killing its workers, or an LLM that stays down past the command's deadline all become an
`agent.response.failed`. The response's event id is derived from the command, so a command
redelivered after a crash cannot put a second, different answer into the stream within the
duplicate window (and the orchestrator keeps the first answer per command id after it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

from ulid import ULID

from swe_fleet.agents import metrics
from swe_fleet.agents.app.answering import CommandAnswerer, ContextUnavailable
from swe_fleet.backbone.consumer import Delivery
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.publisher import EventPublisher, PublishFailed
from swe_fleet.errors import TransientError
from swe_fleet.events import streams, subjects
from swe_fleet.events.envelope import Envelope, deterministic_event_id
from swe_fleet.events.payloads import AgentCommand, AgentResponse, AgentResponseCompleted
from swe_fleet.faults import fault_point
from swe_fleet.llm.errors import LlmUnavailable
from swe_fleet.redaction import redact_value

log = logging.getLogger(__name__)

DURABLE = "agent-workers"


def command_consumer_spec(
    *, ack_wait_seconds: float = 30.0, batch_size: int = 1, fetch_wait_seconds: float = 2.0
) -> ConsumerSpec:
    # One filter subject: nats-server 2.9 silently ignores filter_subjects (plural).
    return ConsumerSpec(
        durable=DURABLE,
        stream=streams.AGENT_COMMANDS,
        filter_subject="agent.cmd.>",
        description="Agent workers: every command kind, shared by every worker process",
        ack_wait_seconds=ack_wait_seconds,
        max_deliver=10,
        failure_deliveries=5,
        retry_delays_seconds=(2.0, 10.0, 30.0),
        max_ack_pending=256,
        batch_size=batch_size,
        fetch_wait_seconds=fetch_wait_seconds,
    )


def response_event_id(command_envelope: Envelope) -> str:
    """The one event id any answer to this command carries, whichever worker gives it.

    Its time part is the command's own event id's, so a command re-sent under the same event id
    is answered under the same id too.
    """
    try:
        at = ULID.from_str(command_envelope.event_id).datetime
    except ValueError:
        at = command_envelope.occurred_at
    command = command_envelope.payload
    if not isinstance(command, AgentCommand):
        raise TypeError(f"{command_envelope.event_type} carries no agent command")
    return deterministic_event_id(f"agent-response:{command.command_id}", at)


class AgentWorker:
    def __init__(
        self,
        answerer: CommandAnswerer,
        publisher: EventPublisher,
        *,
        command_timeout_seconds: float = 600.0,
        silent_deliveries: int = 3,
        remember: int = 4096,
    ) -> None:
        self._answerer = answerer
        self._publisher = publisher
        self._timeout = command_timeout_seconds
        # A command delivered more often than this without an answer keeps killing or stalling its
        # workers (crashes do not count as handler failures): it is answered as failed instead.
        self._silent_deliveries = silent_deliveries
        self._remember = remember
        self._answered: OrderedDict[str, None] = OrderedDict()
        self._unpublished: OrderedDict[str, Envelope] = OrderedDict()

    async def handle(self, deliveries: Sequence[Delivery[AgentCommand]]) -> None:
        results = await asyncio.gather(*(self._process(d) for d in deliveries), return_exceptions=True)
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            # Answers already published are remembered, so retrying the batch only redoes the rest.
            raise next((error for error in errors if isinstance(error, TransientError)), errors[0])

    async def _process(self, delivery: Delivery[AgentCommand]) -> None:
        command: AgentCommand = delivery.payload
        command_id = command.command_id
        if command_id in self._answered:
            return
        envelope = self._unpublished.get(command_id)
        if envelope is None:
            started = time.perf_counter()
            response = await self._respond(delivery)
            metrics.COMMAND_SECONDS.labels(kind=command.kind).observe(time.perf_counter() - started)
            envelope = self._response_envelope(delivery, response)
            self._remember_in(self._unpublished, command_id, envelope)
        fault_point("agents.worker.before_publish")
        try:
            await self._publisher.publish_envelope(envelope)
        except PublishFailed as error:
            # The answer is kept: a retry publishes it without asking the LLM again.
            raise TransientError(f"cannot publish the answer to {command_id}: {error}") from error
        fault_point("agents.worker.after_publish")
        self._unpublished.pop(command_id, None)
        self._remember_in(self._answered, command_id, None)
        outcome = "completed" if envelope.event_type == subjects.AGENT_RESPONSE_COMPLETED else "failed"
        metrics.RESPONSES.labels(kind=command.kind, outcome=outcome).inc()

    async def _respond(self, delivery: Delivery[AgentCommand]) -> AgentResponse:
        command: AgentCommand = delivery.payload
        if delivery.num_delivered > self._silent_deliveries:
            return self._answerer.failed(
                command,
                f"delivered {delivery.num_delivered} times without an answer: "
                "the workers that took it crashed or stalled",
                attempts=delivery.num_delivered - 1,
            )
        budget = self._timeout
        if command.deadline_seconds is not None:
            waited = (datetime.now(UTC) - delivery.envelope.occurred_at).total_seconds()
            budget = min(budget, command.deadline_seconds - waited)
            if budget <= 0:
                return self._answerer.failed(
                    command, f"expired: its sender stopped waiting {-budget:.0f}s ago", attempts=0
                )
        try:
            async with asyncio.timeout(budget):
                return await self._answerer.answer(command)
        except TimeoutError:
            return self._answerer.failed(command, f"no answer within {budget:.0f}s", attempts=1)
        except (LlmUnavailable, ContextUnavailable) as error:
            age = (datetime.now(UTC) - delivery.envelope.occurred_at).total_seconds()
            if age < self._timeout:
                raise  # held and retried by the runtime until the LLM is back or the deadline passes
            return self._answerer.failed(
                command, f"{error}; gave up {age:.0f}s after the command was sent", attempts=1
            )
        except Exception as error:
            # A bug here must not leave the orchestrator waiting for an answer that never comes.
            log.exception("agent command %s failed", command.command_id)
            return self._answerer.failed(command, f"worker error: {error!r}", attempts=1)

    def _response_envelope(self, delivery: Delivery[AgentCommand], response: AgentResponse) -> Envelope:
        completed = isinstance(response, AgentResponseCompleted)
        if isinstance(response, AgentResponseCompleted):
            # Model output is untrusted text too: no secret it produced reaches an event or the graph.
            response = response.model_copy(update={"output": redact_value(response.output)})
        return self._publisher.envelope(
            subjects.AGENT_RESPONSE_COMPLETED if completed else subjects.AGENT_RESPONSE_FAILED,
            response,
            correlation_id=delivery.envelope.correlation_id,
            causation_id=delivery.envelope.event_id,
            event_id=response_event_id(delivery.envelope),
        )

    def _remember_in(self, memory: OrderedDict, key: str, value: object) -> None:
        memory[key] = value
        memory.move_to_end(key)
        while len(memory) > self._remember:
            memory.popitem(last=False)
