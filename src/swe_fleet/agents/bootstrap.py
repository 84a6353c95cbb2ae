"""Wiring of the agent-worker service: LLM client, context source, answerer, worker, consumers, checks.

    service = await build(settings, nc, endpoints)

The LLM is `endpoints.llm_url` (required); the Context service is `settings.resolved_context_url`.

`agent_pullers` consumer runtimes share the one `agent-workers` durable inside this process (and
with every other worker process): each idle puller has a pull request waiting, so commands sent
together (a council's) start together instead of queueing behind one another's fetch.
"""

from __future__ import annotations

import os
import socket

from nats.aio.client import Client as NATS

from swe_fleet.agents.adapters.context_source import HttpContextSource
from swe_fleet.agents.app.answering import CommandAnswerer
from swe_fleet.agents.app.worker import AgentWorker, command_consumer_spec
from swe_fleet.backbone.consumer import ConsumerRuntime
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.errors import ConfigurationError
from swe_fleet.events.payloads import AgentCommand
from swe_fleet.host.service import CheckResult, Endpoints, Health, Service
from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.config import LlmConfig
from swe_fleet.llm.errors import LlmUnavailable
from swe_fleet.security.client_token import SERVICE_TOKEN_FILE, client_token
from swe_fleet.settings import FleetSettings

SERVICE_NAME = "agent-worker"


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def build(settings: FleetSettings, nc: NATS, endpoints: Endpoints) -> Service:
    llm_url = endpoints.llm_url
    if not llm_url:
        raise ConfigurationError("needs an LLM server: set FLEET_LLM_URL or --llm-url")
    context_url = settings.resolved_context_url
    worker_id = settings.agent_worker_id or default_worker_id()
    publisher = EventPublisher(nc.jetstream(), producer=SERVICE_NAME)
    llm = LlmClient(LlmConfig.from_settings(settings, llm_url))
    # Its service token: FLEET_TOKEN, FLEET_TOKEN_FILE, or the embedded fleet's <data dir>/auth/service.token.
    token = client_token(settings, default_file=SERVICE_TOKEN_FILE)
    context = HttpContextSource(context_url, attempts=settings.agent_context_attempts, token=token)
    answerer = CommandAnswerer(
        llm,
        context,
        worker_id=worker_id,
        answer_attempts=settings.agent_answer_attempts,
        context_window=settings.llm_context_per_slot,
        context_policy=settings.agent_context_policy,
    )
    worker = AgentWorker(answerer, publisher, command_timeout_seconds=settings.agent_command_timeout_seconds)
    spec = command_consumer_spec(
        ack_wait_seconds=settings.agent_ack_wait_seconds, batch_size=settings.agent_batch_size
    )
    dead_letters = DeadLetterWriter(publisher)
    consumers = [
        ConsumerRuntime(nc, spec, worker.handle, dead_letters, payload_type=AgentCommand)
        for _ in range(settings.agent_pullers)
    ]

    async def llm_check() -> CheckResult:
        try:
            models = await llm.models()
        except LlmUnavailable as error:
            # Degraded, not down: commands wait for the LLM (held, not failed) until their deadline.
            return CheckResult(Health.DEGRADED, f"{error}; commands wait for it")
        return CheckResult(Health.OK, f"{llm_url} serves {', '.join(models) or 'a model'}")

    async def context_check() -> CheckResult:
        reachable, detail = await context.reachable()
        if reachable:
            return CheckResult(Health.OK, detail)
        then = (
            "commands wait for it"
            if settings.agent_context_policy == "wait"
            else "agents answer without context"
        )
        return CheckResult(Health.DEGRADED, f"Context service {detail}; {then}")

    return Service(
        name=SERVICE_NAME,
        consumers=consumers,
        checks={"llm": llm_check, "context": context_check},
        closers=[llm.aclose, context.aclose],
    )
