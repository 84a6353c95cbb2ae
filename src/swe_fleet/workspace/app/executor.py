"""Carrying out a dispatched task: checkout, tests before, the agent loop, tests after, commit or not.

Exactly one result per task, whatever crashes: the result envelope is written to the ledger before
it is published, under an event id derived from the task (JetStream drops a second copy), and a
task redelivered after its result was decided republishes that result instead of working again. A
task whose commit reached the branch (found by its `Fleet-Task` trailer) is reported from that
commit, never applied twice. A failed task changes nothing on the branch: only a change whose tests
pass is committed and pushed. A task whose agent asks for a command that needs the Product Owner's
approval is parked instead (no result yet) and carried out again on the verdict (`approvals.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ulid import ULID

from swe_fleet.backbone.consumer import Delivery
from swe_fleet.backbone.consumer_spec import ConsumerSpec
from swe_fleet.backbone.publisher import EventPublisher
from swe_fleet.errors import TransientError
from swe_fleet.events import streams, subjects
from swe_fleet.events.envelope import Envelope, decode_event, deterministic_event_id, encode_event
from swe_fleet.events.payloads import (
    CommitRecord,
    Payload,
    Role,
    SuiteResult,
    TaskDispatched,
    TokenUsage,
    WorkspaceTaskCompleted,
    WorkspaceTaskFailed,
    WorkspaceTaskResult,
    WorkspaceTaskStarted,
    WorkspaceToolCalled,
)
from swe_fleet.faults import fault_point
from swe_fleet.security.injection import suspected_injection
from swe_fleet.workspace import metrics
from swe_fleet.workspace.app.agent_loop import AgentLoop, LoopLimits, LoopResult, Step, StopReason
from swe_fleet.workspace.app.approvals import ApprovalDesk, Dispatch
from swe_fleet.workspace.app.execution_ports import (
    AgentModel,
    Checkout,
    ResultLedger,
    TaskBrief,
    TaskSource,
    TaskUnworkable,
    Workspaces,
)
from swe_fleet.workspace.app.ports import Sandbox
from swe_fleet.workspace.app.toolbox import Toolbox
from swe_fleet.workspace.domain import briefing
from swe_fleet.workspace.domain.approvals import ParkedTask
from swe_fleet.workspace.domain.policy import RoleNotAllowed, WorkspacePolicies
from swe_fleet.workspace.domain.results import failure_reason, shortened_arguments, suite_result, tool_outcome
from swe_fleet.workspace.domain.tools import Observation, ToolCall, ToolName, tool_schemas

log = logging.getLogger(__name__)

DURABLE = "workspace"
PATCH_CHARACTERS = 60_000


def dispatch_consumer_spec(*, ack_wait_seconds: float = 60.0) -> ConsumerSpec:
    return ConsumerSpec(
        durable=DURABLE,
        stream=streams.ORCHESTRATOR_EVENTS,
        filter_subject=subjects.TASK_DISPATCHED,
        description="Workspaces: carry out each dispatched task on its story's branch",
        ack_wait_seconds=ack_wait_seconds,
        max_deliver=10,
        failure_deliveries=5,
        retry_delays_seconds=(5.0, 30.0, 60.0),
        max_ack_pending=64,
        batch_size=1,
        fetch_wait_seconds=2.0,
        # A task is minutes of work: on stop it is handed back at once and redone elsewhere (idempotent).
        drain_grace_seconds=1.0,
    )


class _ToolboxRunner:
    """The loop's ToolRunner over the (blocking) toolbox: each call in a worker thread."""

    def __init__(self, toolbox: Toolbox) -> None:
        self._toolbox = toolbox

    async def execute(self, call: ToolCall) -> Observation:
        return await asyncio.to_thread(self._toolbox.execute, call)


@dataclass
class _Work:
    """What one attempt at a task found and did, before it becomes the result event."""

    brief: TaskBrief | None = None
    loop: LoopResult | None = None
    tests_before: SuiteResult | None = None
    tests_after: SuiteResult | None = None
    tests_seconds: float = 0.0
    commits: tuple[CommitRecord, ...] = ()


class TaskExecutor:
    def __init__(
        self,
        *,
        source: TaskSource,
        workspaces: Workspaces,
        ledger: ResultLedger,
        publisher: EventPublisher,
        sandbox: Sandbox,
        policies: WorkspacePolicies,
        model_for: Callable[[Role], AgentModel],
        redact: Callable[[str], str],
        max_tokens: int = 200_000,
        history_characters: int = 400_000,
        approvals: ApprovalDesk | None = None,
    ) -> None:
        self._source = source
        self._workspaces = workspaces
        self._ledger = ledger
        self._publisher = publisher
        self._sandbox = sandbox
        self._policies = policies
        self._model_for = model_for
        self._redact = redact
        self._max_tokens = max_tokens
        self._history_characters = history_characters
        # Without a desk, a command needing approval is refused to the agent (nothing can wait).
        self._approvals = approvals
        self._running: set[str] = set()

    async def handle(self, deliveries: Sequence[Delivery[TaskDispatched]]) -> None:
        for delivery in deliveries:
            await self.carry_out(Dispatch(delivery.envelope, delivery.payload, delivery.num_delivered))

    async def carry_out(self, delivery: Dispatch) -> None:
        task_id = delivery.payload.task_id
        if task_id in self._running:
            # Its dispatch redelivered while its verdict resumes it (or the reverse): the runtime retries
            # this one in place, and it then finds the result recorded.
            raise TransientError(f"task {task_id} is being carried out here already")
        self._running.add(task_id)
        try:
            await self._carry_out(delivery)
        finally:
            self._running.discard(task_id)

    async def _carry_out(self, delivery: Dispatch) -> None:
        task = delivery.payload
        decided = await self._ledger.get(task.task_id)
        if decided is not None:
            # Decided before a crash or a redelivery: published again (JetStream drops the copy).
            await self._publisher.publish_envelope(_decoded(decided))
            return
        parked = await self._approvals.record(task.task_id) if self._approvals else None
        if self._approvals is not None and parked is not None and parked.pending():
            # Still waiting for the PO (a redelivered dispatch): asked again, idempotently, and left parked.
            await self._approvals.ask(delivery, parked, _moment(delivery.envelope))
            return
        started = time.monotonic()
        work = _Work()
        try:
            result = await self._attempt(delivery, work, started, parked)
        except TaskUnworkable as error:
            result = self._failed(task, work, started, str(error))
        if result is None:
            return  # parked: carried out again when the PO has decided
        kept = await self._ledger.record(task.task_id, encode_event(self._result_envelope(delivery, result)))
        fault_point("workspace.before_result_publish")
        await self._publisher.publish_envelope(_decoded(kept))

    async def _attempt(
        self, delivery: Dispatch, work: _Work, started: float, parked: ParkedTask | None
    ) -> WorkspaceTaskResult | None:
        task = delivery.payload
        try:
            policy = self._policies.for_role(task.role)
        except RoleNotAllowed as error:
            raise TaskUnworkable(str(error)) from None
        work.brief = brief = await self._source.brief(task)
        repository = brief.repository
        checkout = await self._workspaces.open(
            repository.repo, repository.base_branch, task.story_id, task.task_id
        )
        try:
            done = await checkout.task_commit(task.task_id)
            if done is not None:
                # Pushed before a crash, result not recorded: reported from the commit, not redone.
                work.commits = (done,)
                summary = f"recovered from {done.sha[:12]} on the branch: {done.message}"
                return await self._result(
                    WorkspaceTaskCompleted, task, checkout, work, started, summary=summary, commit=done.sha
                )
            await self._publish(delivery, subjects.WORKSPACE_TASK_STARTED, self._started(delivery, checkout))
            toolbox = Toolbox(
                checkout.path,
                policy,
                self._sandbox,
                repository.test_command or "",
                self._redact,
                verdicts=parked.verdicts() if parked else {},
                may_ask=self._approvals is not None and (parked is None or parked.may_ask_more),
            )
            work.tests_before = await self._run_tests(toolbox, work, repository.test_command)
            work.loop = await self._run_agent(delivery, brief, toolbox, policy.tools, work)
            if work.loop.stop is StopReason.AWAITING_APPROVAL and work.loop.waiting_on and self._approvals:
                await self._approvals.park(delivery, work.loop.waiting_on, _moment(delivery.envelope))
                return None
            work.tests_after = await self._run_tests(toolbox, work, repository.test_command)
            reason = failure_reason(work.loop.finished, work.loop.summary, work.tests_after)
            if reason is not None:
                return await self._result(
                    WorkspaceTaskFailed, task, checkout, work, started, reason=self._redact(reason)[:2000]
                )
            commit = await checkout.commit(task.task_id, brief.title, work.loop.summary)
            if commit is not None:
                fault_point("workspace.before_push")
                await checkout.push()
                fault_point("workspace.after_push")
                work.commits = (commit,)
            return await self._result(WorkspaceTaskCompleted, task, checkout, work, started)
        finally:
            checkout.discard()

    async def _run_tests(self, toolbox: Toolbox, work: _Work, test_command: str | None) -> SuiteResult | None:
        if not test_command:
            return None
        began = time.monotonic()
        report = await asyncio.to_thread(toolbox.run_tests)
        work.tests_seconds += time.monotonic() - began
        return suite_result(report, self._redact)

    async def _run_agent(
        self,
        delivery: Dispatch,
        brief: TaskBrief,
        toolbox: Toolbox,
        tools: frozenset[ToolName],
        work: _Work,
    ) -> LoopResult:
        task = delivery.payload
        schemas = tool_schemas(tools)
        names = [spec["function"]["name"] for spec in schemas]
        policy_limits = toolbox.limits
        loop_limits = LoopLimits(
            max_steps=policy_limits.max_steps,
            max_tokens=self._max_tokens,
            max_seconds=policy_limits.max_seconds,
            max_history_characters=self._history_characters,
        )

        async def on_step(step: Step) -> None:
            if step.call.name == ToolName.RUN_TESTS:  # the project's own tests, run by the agent
                work.tests_seconds += step.observation.duration_s
            await self._publish(delivery, subjects.WORKSPACE_TOOL_CALLED, self._tool_event(delivery, step))

        loop = AgentLoop(
            self._model_for(task.role), _ToolboxRunner(toolbox), schemas, loop_limits, on_step=on_step
        )
        system = briefing.system_prompt(task.role, names, brief.repository.test_command)
        _note_injection("task brief", task.task_id, brief.description, brief.plan, brief.context)
        prompt = briefing.task_prompt(
            task.task_id,
            brief.title,
            brief.description,
            self._redact(brief.plan),
            self._redact(brief.context),
        )
        return await loop.run(system, prompt)

    # ------------------------------------------------------------------ events

    def _started(self, delivery: Dispatch, checkout: Checkout) -> WorkspaceTaskStarted:
        task = delivery.payload
        return WorkspaceTaskStarted(
            task_id=task.task_id,
            story_id=task.story_id,
            role=task.role,
            agent_id=task.agent_id,
            branch=checkout.branch,
            base_sha=checkout.start_sha,
            attempt=max(1, delivery.num_delivered),
        )

    def _tool_event(self, delivery: Dispatch, step: Step) -> WorkspaceToolCalled:
        task, observation = delivery.payload, step.observation
        text = observation.summary + (f"\n{observation.output}" if observation.output else "")
        suspected = _note_injection(f"{step.call.name} result", task.task_id, observation.output)
        return WorkspaceToolCalled(
            task_id=task.task_id,
            story_id=task.story_id,
            step=step.index,
            tool=step.call.name[:100] or "?",
            arguments=shortened_arguments(step.call.arguments, self._redact),
            outcome=tool_outcome(observation),
            output=self._redact(text)[:8000],
            truncated=observation.truncated or len(text) > 8000,
            duration_ms=observation.duration_s * 1000,
            attempt=max(1, delivery.num_delivered),
            suspected_injection=suspected,
        )

    async def _publish(self, delivery: Dispatch, subject: str, payload: Payload) -> None:
        """A progress event (started, tool called): a fresh id, so a retried attempt's events all count."""
        await self._publisher.publish(
            subject,
            payload,
            correlation_id=delivery.envelope.correlation_id,
            causation_id=delivery.envelope.event_id,
        )

    def _result_envelope(self, delivery: Dispatch, result: WorkspaceTaskResult) -> Envelope:
        subject = (
            subjects.WORKSPACE_TASK_COMPLETED
            if isinstance(result, WorkspaceTaskCompleted)
            else (subjects.WORKSPACE_TASK_FAILED)
        )
        return self._publisher.envelope(
            subject,
            result,
            correlation_id=delivery.envelope.correlation_id,
            causation_id=delivery.envelope.event_id,
            event_id=deterministic_event_id(f"workspace-result:{result.task_id}", _moment(delivery.envelope)),
        )

    def _fields(self, task: TaskDispatched, work: _Work, started: float) -> dict[str, object]:
        loop = work.loop
        return {
            "task_id": task.task_id,
            "story_id": task.story_id,
            "role": task.role,
            "agent_id": task.agent_id,
            "branch": f"fleet/{task.story_id}",
            "tests_before": work.tests_before,
            "tests_after": work.tests_after,
            "usage": TokenUsage(
                prompt_tokens=loop.prompt_tokens if loop else 0,
                completion_tokens=loop.completion_tokens if loop else 0,
            ),
            "steps": loop.steps if loop else 0,
            "duration_ms": (time.monotonic() - started) * 1000,
            "llm_ms": (loop.llm_seconds if loop else 0.0) * 1000,
            "tests_ms": work.tests_seconds * 1000,
        }

    def _failed(self, task: TaskDispatched, work: _Work, started: float, reason: str) -> WorkspaceTaskFailed:
        """Nothing was tried in a checkout (no repository, a role without a workspace...)."""
        summary = work.loop.summary if work.loop else ""
        return WorkspaceTaskFailed.model_validate(
            {**self._fields(task, work, started), "summary": summary, "reason": self._redact(reason)[:2000]}
        )

    async def _result(
        self,
        kind: type[WorkspaceTaskCompleted] | type[WorkspaceTaskFailed],
        task: TaskDispatched,
        checkout: Checkout,
        work: _Work,
        started: float,
        commit: str | None = None,
        **extra: object,
    ) -> WorkspaceTaskResult:
        """The result with the change (committed, or only attempted when it failed) as stats and a patch."""
        patch = self._redact(await checkout.diff(limit=PATCH_CHARACTERS + 1, commit=commit))
        document = {
            **self._fields(task, work, started),
            "commits": list(work.commits),
            "diff": await checkout.diff_stats(commit=commit),
            "summary": self._redact(work.loop.summary if work.loop else "")[:4000],
            "patch": patch[:PATCH_CHARACTERS],
            "patch_truncated": len(patch) > PATCH_CHARACTERS,
            **extra,
        }
        return kind.model_validate(document)


def _decoded(data: bytes) -> Envelope:
    subject = json.loads(data)["event_type"]
    return decode_event(subject, data)


def _moment(envelope: Envelope) -> datetime:
    try:
        return ULID.from_str(envelope.event_id).datetime
    except ValueError:
        return envelope.occurred_at


def _note_injection(source: str, task_id: str, *texts: str) -> list[str]:
    """Instruction-like text in what the agent reads, recorded (log, metric, event field), not obeyed:
    the policy and the sandbox decide what runs, whatever the text asks."""
    suspected = sorted({kind for text in texts for kind in suspected_injection(text)})
    if suspected:
        metrics.INJECTION_SUSPECTED.labels(source=source.split(" ")[-1]).inc()
        log.warning(
            "task %s: instruction-like text in its %s (%s); given to the agent as data",
            task_id,
            source,
            ", ".join(suspected),
        )
    return suspected
