import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from swe_fleet.agents.app.answering import CommandAnswerer
from swe_fleet.agents.app.worker import AgentWorker, command_consumer_spec, response_event_id
from swe_fleet.backbone.consumer import Delivery
from swe_fleet.backbone.publisher import EventPublisher, PublishFailed
from swe_fleet.errors import TransientError
from swe_fleet.events import subjects
from swe_fleet.events.agent_protocol import SUBJECT_FOR_KIND, CommandKind
from swe_fleet.events.envelope import Envelope, decode_event
from swe_fleet.events.payloads import AgentCommand
from swe_fleet.llm.errors import LlmUnavailable
from tests.unit.agents.fakes import FixedContext, ScriptedLlm
from tests.unit.agents.samples import INPUTS, PROPOSAL


class RecordingPublisher(EventPublisher):
    def __init__(self, failures: int = 0) -> None:
        super().__init__(js=None, producer="agent-worker")  # type: ignore[arg-type]
        self.published: list[Envelope] = []
        self.failures = failures

    async def publish_raw(self, subject, data, *, msg_id, headers=None):
        if self.failures:
            self.failures -= 1
            raise PublishFailed(subject, 8, TimeoutError())
        self.published.append(decode_event(subject, data))


def delivery(
    command_id="cmd-1",
    num_delivered=1,
    sent_ago=timedelta(0),
    kind=CommandKind.GENERATE,
    deadline_seconds=None,
):
    command = AgentCommand(
        deadline_seconds=deadline_seconds,
        command_id=command_id,
        kind=kind.value,
        story_id="story-1",
        task_id="task-1",
        role="DEV",
        agent_id="dev-1",
        inputs=INPUTS[kind],
    )
    envelope = Envelope.new(
        SUBJECT_FOR_KIND[kind],
        command,
        producer="orchestrator",
        correlation_id="corr-1",
        occurred_at=datetime.now(UTC) - sent_ago,
    )
    return Delivery(envelope, command, envelope.event_type, "AGENT_COMMANDS", 1, num_delivered, msg=None)


def worker(script, *, publisher=None, timeout=600.0):
    llm = ScriptedLlm(list(script))
    answerer = CommandAnswerer(llm, FixedContext(), worker_id="worker-a")
    publisher = publisher or RecordingPublisher()
    return AgentWorker(answerer, publisher, command_timeout_seconds=timeout), publisher, llm


async def test_each_command_of_a_batch_gets_its_answer_published_with_a_derived_event_id():
    agent_worker, publisher, _ = worker([PROPOSAL])
    batch = [delivery("cmd-1"), delivery("cmd-2")]
    await agent_worker.handle(batch)
    assert sorted(e.payload.command_id for e in publisher.published) == ["cmd-1", "cmd-2"]
    for envelope, sent in zip(
        sorted(publisher.published, key=lambda e: e.payload.command_id), batch, strict=True
    ):
        assert envelope.event_type == subjects.AGENT_RESPONSE_COMPLETED
        assert envelope.event_id == response_event_id(sent.envelope)
        assert envelope.causation_id == sent.envelope.event_id and envelope.correlation_id == "corr-1"


async def test_a_batch_is_answered_concurrently():
    started = asyncio.Event()
    running = 0
    peak = 0

    class SlowLlm(ScriptedLlm):
        async def complete(self, messages, **options):
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.05)
            running -= 1
            started.set()
            return await super().complete(messages, **options)

    answerer = CommandAnswerer(SlowLlm([PROPOSAL]), FixedContext(), worker_id="w")
    agent_worker = AgentWorker(answerer, RecordingPublisher())
    await agent_worker.handle([delivery(f"cmd-{n}") for n in range(4)])
    assert peak == 4


def test_the_response_id_is_the_same_for_every_delivery_of_a_command_and_differs_between_commands():
    first = delivery("cmd-1")
    redelivered = Delivery(first.envelope, first.payload, first.subject, first.stream, 1, 2, msg=None)
    assert response_event_id(first.envelope) == response_event_id(redelivered.envelope)
    assert response_event_id(first.envelope) != response_event_id(delivery("cmd-2").envelope)


async def test_a_command_answered_once_is_not_answered_again_by_this_process():
    agent_worker, publisher, llm = worker([PROPOSAL])
    first = delivery("cmd-1")
    await agent_worker.handle([first])
    await agent_worker.handle(
        [Delivery(first.envelope, first.payload, first.subject, first.stream, 1, 2, msg=None)]
    )
    assert len(publisher.published) == 1 and len(llm.calls) == 1


async def test_an_answer_that_could_not_be_published_is_published_on_retry_without_asking_the_llm_again():
    agent_worker, publisher, llm = worker([PROPOSAL], publisher=RecordingPublisher(failures=1))
    batch = [delivery("cmd-1")]
    with pytest.raises(TransientError, match="cannot publish the answer to cmd-1"):
        await agent_worker.handle(batch)
    await agent_worker.handle(batch)
    assert len(publisher.published) == 1 and len(llm.calls) == 1


async def test_an_unavailable_llm_holds_the_command_while_it_is_young():
    agent_worker, publisher, _ = worker([LlmUnavailable("refused")])
    with pytest.raises(LlmUnavailable):
        await agent_worker.handle([delivery()])
    assert publisher.published == []


async def test_an_unavailable_llm_past_the_deadline_is_a_failed_answer():
    agent_worker, publisher, _ = worker([LlmUnavailable("refused")], timeout=60)
    await agent_worker.handle([delivery(sent_ago=timedelta(seconds=61))])
    [envelope] = publisher.published
    assert envelope.event_type == subjects.AGENT_RESPONSE_FAILED
    assert "refused; gave up" in envelope.payload.error


async def test_a_command_that_takes_too_long_is_a_failed_answer():
    class StuckLlm(ScriptedLlm):
        async def complete(self, messages, **options):
            await asyncio.sleep(10)

    answerer = CommandAnswerer(StuckLlm([]), FixedContext(), worker_id="w")
    publisher = RecordingPublisher()
    await AgentWorker(answerer, publisher, command_timeout_seconds=0.05).handle([delivery()])
    assert publisher.published[0].payload.error == "no answer within 0s"


async def test_a_command_that_keeps_killing_its_workers_is_answered_failed_without_trying_again():
    agent_worker, publisher, llm = worker([PROPOSAL])
    await agent_worker.handle([delivery(num_delivered=4)])
    [envelope] = publisher.published
    assert envelope.event_type == subjects.AGENT_RESPONSE_FAILED
    assert "delivered 4 times without an answer" in envelope.payload.error
    assert llm.calls == []


async def test_a_bug_in_answering_is_a_failed_answer_not_silence():
    agent_worker, publisher, _ = worker([ZeroDivisionError("oops")])
    await agent_worker.handle([delivery()])
    assert publisher.published[0].payload.error == "worker error: ZeroDivisionError('oops')"


async def test_a_batch_with_one_held_command_publishes_the_others_and_retries_only_the_held_one():
    agent_worker, publisher, llm = worker([PROPOSAL, LlmUnavailable("down"), PROPOSAL])
    batch = [delivery("cmd-1"), delivery("cmd-2")]
    with pytest.raises(TransientError):
        await agent_worker.handle(batch)
    assert [e.payload.command_id for e in publisher.published] == ["cmd-1"]
    await agent_worker.handle(batch)
    assert sorted(e.payload.command_id for e in publisher.published) == ["cmd-1", "cmd-2"]
    assert len(llm.calls) == 3


def test_the_consumer_is_one_durable_on_every_command_subject():
    spec = command_consumer_spec(ack_wait_seconds=12, batch_size=4)
    assert (spec.durable, spec.stream, spec.filter_subject) == (
        "agent-workers",
        "AGENT_COMMANDS",
        "agent.cmd.>",
    )
    assert spec.ack_wait_seconds == 12 and spec.batch_size == 4


async def test_a_command_its_sender_stopped_waiting_for_costs_no_llm_time():
    agent_worker, publisher, llm = worker([PROPOSAL])
    await agent_worker.handle([delivery("late", sent_ago=timedelta(seconds=400), deadline_seconds=300)])
    [answer] = publisher.published
    assert answer.event_type == subjects.AGENT_RESPONSE_FAILED and "expired" in answer.payload.error
    assert llm.calls == []


async def test_a_command_within_its_deadline_is_answered():
    agent_worker, publisher, llm = worker([PROPOSAL])
    await agent_worker.handle([delivery("on-time", sent_ago=timedelta(seconds=10), deadline_seconds=300)])
    assert [e.event_type for e in publisher.published] == [subjects.AGENT_RESPONSE_COMPLETED]
    assert len(llm.calls) == 1
