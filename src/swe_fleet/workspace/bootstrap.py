"""Wiring of the workspace service: sandbox, policies, git, the task source, the LLM, the consumer.

    service = await build(settings, nc, endpoints)

The LLM is `endpoints.llm_url` (required); Planning and Context are reached over HTTP
(`settings.resolved_planning_url`, `resolved_context_url`); checkouts live under
`<data dir>/workspaces`. Without isolation for commands (no bubblewrap, and FLEET_SANDBOX is not
`unsafe-none`) the service still serves, degraded: every command is refused with one line saying why
and what to do, so tasks fail honestly instead of running unconfined.
"""

from __future__ import annotations

import logging
from typing import Any

from nats.aio.client import Client as NATS

from swe_fleet.backbone.consumer import ConsumerRuntime
from swe_fleet.backbone.dead_letters import DeadLetterWriter
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.errors import ConfigurationError
from swe_fleet.events.payloads import ApprovalDecided, Role, TaskDispatched
from swe_fleet.host.service import CheckResult, Endpoints, Health, Service
from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.config import LlmConfig
from swe_fleet.redaction import redact
from swe_fleet.security.client_token import SERVICE_TOKEN_FILE, bearer_headers, client_token
from swe_fleet.settings import FleetSettings
from swe_fleet.workspace.adapters.approval_store import KvApprovalStore
from swe_fleet.workspace.adapters.git_repo import GitWorkspaces
from swe_fleet.workspace.adapters.llm_model import LlmAgentModel
from swe_fleet.workspace.adapters.result_ledger import KvResultLedger
from swe_fleet.workspace.adapters.sandbox import select_sandbox
from swe_fleet.workspace.adapters.task_source import HttpTaskSource
from swe_fleet.workspace.app.approvals import ApprovalDesk, ApprovalResumer, verdict_consumer_spec
from swe_fleet.workspace.app.executor import TaskExecutor, dispatch_consumer_spec
from swe_fleet.workspace.domain.policy import load_policies

SERVICE_NAME = "workspace"
log = logging.getLogger(__name__)


async def build(settings: FleetSettings, nc: NATS, endpoints: Endpoints) -> Service:
    llm_url = endpoints.llm_url
    if not llm_url:
        raise ConfigurationError("the workspace needs an LLM server: set FLEET_LLM_URL or --llm-url")
    policies = load_policies(settings.workspace_policies)
    sandbox = select_sandbox(settings.sandbox)
    unavailable = sandbox.available()
    if unavailable is not None:
        # Serving anyway: tasks are carried out with every command refused, and fail saying why.
        log.error("workspace: %s", unavailable)
    publisher = EventPublisher(nc.jetstream(), producer=SERVICE_NAME)
    llm = LlmClient(LlmConfig.from_settings(settings, llm_url))
    # Its service token (FLEET_TOKEN, FLEET_TOKEN_FILE or the embedded fleet's service.token): it reads
    # the story's repository from planning and the task's graph from the Context service.
    token = client_token(settings, default_file=SERVICE_TOKEN_FILE)
    source = HttpTaskSource(
        settings.resolved_planning_url, settings.resolved_context_url, headers=bearer_headers(token)
    )
    ledger = await KvResultLedger.open(nc.jetstream(), replicas=settings.resolved_nats_replicas)
    # Tasks parked on the PO's approval (ADR 0612): kept in KV, carried out again on the verdict.
    approvals = await KvApprovalStore.open(nc.jetstream(), replicas=settings.resolved_nats_replicas)
    models: dict[Role, LlmAgentModel] = {}

    def model_for(role: Role) -> LlmAgentModel:
        # One per role, kept: a server found without function calling is remembered for every task.
        if role not in models:
            models[role] = LlmAgentModel(llm, role=role.value, max_tokens=settings.workspace_answer_tokens)
        return models[role]

    executor = TaskExecutor(
        source=source,
        workspaces=GitWorkspaces(settings.data_dir / "workspaces"),
        ledger=ledger,
        publisher=publisher,
        sandbox=sandbox,
        policies=policies,
        model_for=model_for,
        redact=redact,
        max_tokens=settings.workspace_max_tokens,
        # About three characters a token, with room left for the tools' schemas and the answer.
        history_characters=max(
            4000, 3 * (settings.llm_context_per_slot - settings.workspace_answer_tokens) - 6000
        ),
        approvals=ApprovalDesk(approvals, publisher, redact),
    )

    async def sandbox_check() -> CheckResult:
        if unavailable is not None:
            return CheckResult(Health.DEGRADED, unavailable)
        return CheckResult(Health.OK, sandbox.describe())

    return Service(
        name=SERVICE_NAME,
        consumers=_consumers(settings, nc, executor, approvals, DeadLetterWriter(publisher)),
        checks={"sandbox": sandbox_check},
        closers=[llm.aclose, source.aclose],
    )


def _consumers(
    settings: FleetSettings,
    nc: NATS,
    executor: TaskExecutor,
    approvals: KvApprovalStore,
    dead_letters: DeadLetterWriter,
) -> list[ConsumerRuntime[Any]]:
    """Dispatched tasks, and the PO's verdicts that resume the tasks parked on them (ADR 0612)."""
    ack_wait = settings.workspace_ack_wait_seconds
    dispatched = ConsumerRuntime(
        nc,
        dispatch_consumer_spec(ack_wait_seconds=ack_wait),
        executor.handle,
        dead_letters,
        payload_type=TaskDispatched,
    )
    verdicts = ConsumerRuntime(
        nc,
        verdict_consumer_spec(ack_wait_seconds=ack_wait),
        ApprovalResumer(approvals, executor.carry_out).handle,
        dead_letters,
        payload_type=ApprovalDecided,
    )
    return [dispatched, verdicts]
