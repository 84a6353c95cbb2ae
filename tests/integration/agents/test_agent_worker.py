"""The agent worker end to end: a real nats-server, a real llama-server, worker processes killed mid-command.

The Context service is played by a stand-in serving its documented GET endpoint on a real port
(tests/integration/agents/context_stand_in.py) until the real service can be started here.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from swe_fleet.agents.app.worker import response_event_id
from swe_fleet.agents.bootstrap import build
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.embedded.child import free_port
from swe_fleet.events import subjects
from swe_fleet.events.agent_protocol import OUTPUT_MODEL_FOR_KIND, SUBJECT_FOR_KIND, CommandKind
from swe_fleet.events.envelope import Envelope, decode_event
from swe_fleet.events.payloads import AgentCommand, AgentResponseCompleted, AgentResponseFailed
from swe_fleet.host.runner import ServiceHost
from swe_fleet.host.service import Endpoints
from swe_fleet.settings import FleetSettings
from tests.integration.agents.context_stand_in import VERSION, ContextStandIn
from tests.support.processes import kill, spawn_module
from tests.unit.agents.samples import INPUTS, TASK

ANSWER_WITHIN = 600.0  # the machine's two cores are shared: generous, never a speed claim
# pytest-timeout must not cut a test short before its own deadline says what went wrong.
pytestmark = [pytest.mark.llm, pytest.mark.timeout(ANSWER_WITHIN + 120)]


@pytest.fixture(scope="module")
def context_stand_in():
    stand_in = ContextStandIn().start()
    yield stand_in
    stand_in.stop()


def settings(**overrides) -> FleetSettings:
    return FleetSettings(
        agent_ack_wait_seconds=5, agent_context_attempts=1, llm_timeout_seconds=300, **overrides
    )


async def run_worker(nc, llm_url: str, context_url: str, **overrides):
    configured = settings(llm_url=llm_url, context_url=context_url, **overrides)
    service = await build(configured, nc, Endpoints.from_settings(configured))
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(ServiceHost([service], http_host=None, http_port=None).serve(stop, started))
    await started.wait()
    return service, stop, task


def command(kind: CommandKind, command_id: str, **changes) -> AgentCommand:
    fields = {
        "command_id": command_id,
        "kind": kind.value,
        "story_id": "story-7",
        "task_id": TASK["task_id"],
        "deliberation_id": "delib-7",
        "role": "QA",
        "agent_id": "qa-1",
        "phase": "IN_PROGRESS",
        "inputs": INPUTS[kind],
        "token_budget": 800,
    }
    return AgentCommand(**{**fields, **changes})


async def send(js, *commands: AgentCommand) -> list[Envelope]:
    publisher = EventPublisher(js, "orchestrator-test")
    envelopes = [
        publisher.envelope(SUBJECT_FOR_KIND[CommandKind(c.kind)], c, correlation_id=f"corr-{c.command_id}")
        for c in commands
    ]
    for envelope in envelopes:
        await publisher.publish_envelope(envelope)
    return envelopes


async def responses(js) -> list[Envelope]:
    """Every message in AGENT_RESPONSES, decoded (an ephemeral consumer reads the whole stream)."""
    subscription = await js.pull_subscribe(
        "agent.response.>", stream="AGENT_RESPONSES", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    )
    found = []
    try:
        while True:
            try:
                batch = await subscription.fetch(100, timeout=0.5)
            except Exception:
                break
            for msg in batch:
                found.append(decode_event(msg.subject, msg.data))
                await msg.ack()
    finally:
        await subscription.unsubscribe()
    return found


async def wait_for_answers(js, command_ids: set[str], within: float = ANSWER_WITHIN) -> list[Envelope]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = [e for e in await responses(js) if e.payload.command_id in command_ids]
        if {e.payload.command_id for e in found} == command_ids:
            return found
        await asyncio.sleep(1)
    raise AssertionError(
        f"no answer to {command_ids - {e.payload.command_id for e in found}} in {within:.0f}s"
    )


async def test_a_command_is_answered_with_valid_output_and_its_context(
    nc, js, llama_server, context_stand_in
):
    _, stop, task = await run_worker(nc, llama_server.url, context_stand_in.url)
    try:
        [sent] = await send(js, command(CommandKind.CRITIQUE, "cmd-critique-1"))
        [answer] = await wait_for_answers(js, {"cmd-critique-1"})
    finally:
        stop.set()
        await task
    assert answer.event_type == subjects.AGENT_RESPONSE_COMPLETED
    response = answer.payload
    assert isinstance(response, AgentResponseCompleted)
    OUTPUT_MODEL_FOR_KIND[CommandKind.CRITIQUE].model_validate(response.output)
    assert response.context_version == str(VERSION) and response.context_error is None
    assert response.worker_id and response.agent_id == "qa-1" and response.deliberation_id == "delib-7"
    assert response.usage.completion_tokens > 0 and response.usage.started_at <= response.usage.ended_at
    assert answer.event_id == response_event_id(sent)
    assert answer.causation_id == sent.event_id and answer.correlation_id == "corr-cmd-critique-1"
    assert {
        "story_id": "story-7",
        "role": "QA",
        "phase": "IN_PROGRESS",
        "task_id": TASK["task_id"],
        "token_budget": 800,
    } in context_stand_in.requests


async def test_unusable_inputs_are_answered_failed_at_once(nc, js, llama_server, context_stand_in):
    _, stop, task = await run_worker(nc, llama_server.url, context_stand_in.url)
    try:
        await send(js, command(CommandKind.REVISE, "cmd-bad", inputs={"task": TASK}))
        [answer] = await wait_for_answers(js, {"cmd-bad"})
    finally:
        stop.set()
        await task
    assert answer.event_type == subjects.AGENT_RESPONSE_FAILED
    assert isinstance(answer.payload, AgentResponseFailed)
    assert "inputs.proposal: Field required" in answer.payload.error and answer.payload.attempts == 0


async def test_without_the_context_service_the_agent_answers_and_says_why(nc, js, llama_server):
    _, stop, task = await run_worker(nc, llama_server.url, f"http://127.0.0.1:{free_port()}")
    try:
        await send(js, command(CommandKind.SCORE, "cmd-score-blind"))
        [answer] = await wait_for_answers(js, {"cmd-score-blind"})
    finally:
        stop.set()
        await task
    response = answer.payload
    assert isinstance(response, AgentResponseCompleted)
    assert response.context_version is None
    assert response.context_error.startswith("Context service unreachable")
    OUTPUT_MODEL_FOR_KIND[CommandKind.SCORE].model_validate(response.output)


async def test_a_councils_commands_are_answered_concurrently(nc, js, llama_server, context_stand_in):
    _, stop, task = await run_worker(nc, llama_server.url, context_stand_in.url)
    ids = {f"cmd-council-{n}" for n in range(3)}
    try:
        await send(js, *(command(CommandKind.CRITIQUE, i, agent_id=f"qa-{i[-1]}") for i in sorted(ids)))
        answers = await wait_for_answers(js, ids)
    finally:
        stop.set()
        await task
    # A base model sometimes answers a command with output that fails validation even after repair:
    # that command is answered failed, with the LLM calls it made. Either way it ran, and must overlap.
    usages = [a.payload.usage for a in answers if a.payload.usage is not None]
    assert len(usages) == 3, [getattr(a.payload, "error", "completed") for a in answers]
    # Every agent's LLM work overlapped the others': the three ran at the same time, not in turn.
    assert max(u.started_at for u in usages) < min(u.ended_at for u in usages)


def spawn_worker(nats_url: str, llm_url: str, context_url: str, log: Path, faults: str = ""):
    env = {
        "FLEET_AGENT_ACK_WAIT_SECONDS": "3",
        "FLEET_AGENT_PULLERS": "2",
        "FLEET_LLM_TIMEOUT_SECONDS": "300",
    }
    if faults:
        env["FLEET_FAULTS"] = faults
    return spawn_module(
        "tests.integration.agents.worker_process",
        nats_url,
        llm_url,
        context_url,
        env=env,
        log=log,
        timeout=60,
    )


@pytest.mark.parametrize("fault", ["agents.worker.before_publish:kill", "agents.worker.after_publish:kill"])
async def test_a_worker_killed_mid_command_leaves_it_to_another_with_one_answer(
    fault, nats_server, nc, js, llama_server, context_stand_in, tmp_path
):
    """SIGKILL before the answer is published, or after it is published but before the ack."""
    doomed = spawn_worker(nats_server.url, llama_server.url, context_stand_in.url, tmp_path / "a.log", fault)
    [sent] = await send(js, command(CommandKind.CRITIQUE, "cmd-crash"))
    returncode = await asyncio.to_thread(doomed.wait, ANSWER_WITHIN)
    assert returncode == -signal.SIGKILL
    survivor = spawn_worker(nats_server.url, llama_server.url, context_stand_in.url, tmp_path / "b.log")
    try:
        await wait_for_answers(js, {"cmd-crash"})
        info = await drained(js)
        answers = [e for e in await responses(js) if e.payload.command_id == "cmd-crash"]
    finally:
        kill(survivor, signal.SIGTERM)
    assert len(answers) == 1, [a.payload for a in answers]
    assert answers[0].event_id == response_event_id(sent)
    assert isinstance(answers[0].payload, AgentResponseCompleted)
    answered_by = doomed if fault.endswith("after_publish:kill") else survivor
    assert answers[0].payload.worker_id.endswith(f"-{answered_by.pid}")
    # One command, delivered twice (to the doomed worker, then to the survivor), acked once.
    assert info.delivered.consumer_seq == 2 and info.ack_floor.consumer_seq == 2


async def drained(js, within: float = ANSWER_WITHIN):
    """The durable's state once no command is pending or in a worker's hands."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        info = await js.consumer_info("AGENT_COMMANDS", "agent-workers")
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return info
        await asyncio.sleep(0.5)
    raise AssertionError(f"agent-workers not drained in {within:.0f}s: {info}")
