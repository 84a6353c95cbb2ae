"""Answering one agent command: context, prompt, LLM call, answer check, repair; a response either way.

The answer is a completed response with an output that validates against the kind's model, or a
failed response that says why (unusable inputs, no valid answer after the allowed attempts, the
LLM timing out or refusing). It raises only TransientErrors: `LlmUnavailable` (the LLM server is
down) and `ContextUnavailable` (Context unreachable under the "wait" policy); the worker decides
whether to hold the command or give up on it. Every answer, completed or failed, says which context
version it used or why it had none.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

from swe_fleet.agents import metrics
from swe_fleet.agents.app.ports import ChatModel, ContextSource
from swe_fleet.agents.domain.answers import AnswerVerdict, echo_of, judge_answer, repair_request
from swe_fleet.agents.domain.context_pack import ContextOutcome, ContextPack, ContextPolicy
from swe_fleet.agents.domain.inputs import BadInputs, KindInputs, read_inputs
from swe_fleet.agents.domain.prompts import Prompt, build_prompt
from swe_fleet.agents.domain.shapes import AnswerShape, shape_for
from swe_fleet.errors import TransientError
from swe_fleet.events.agent_protocol import CommandKind, ProbeOutput
from swe_fleet.events.payloads import (
    AgentCommand,
    AgentResponse,
    AgentResponseCompleted,
    AgentResponseFailed,
    LlmUsage,
)
from swe_fleet.llm.completion import ChatMessage, Completion, StructuredOutput
from swe_fleet.llm.errors import LlmRejected, LlmTimedOut
from swe_fleet.redaction import redact
from swe_fleet.security.injection import suspected_injection
from swe_fleet.tokens import estimate_tokens

log = logging.getLogger(__name__)


class ContextUnavailable(TransientError):
    """The Context service is unreachable and the policy is to wait: the worker holds the command."""


_CHAT_OVERHEAD = 32  # the chat template's turn markers
_MIN_BUDGET = 64  # AgentCommand's own lower bound


def estimate_prompt_tokens(prompt: Prompt) -> int:
    """The fleet's one estimate (swe_fleet.tokens: errs high, no round trip needed)."""
    return estimate_tokens(prompt.system) + estimate_tokens(prompt.user)


@dataclass
class UsageTally:
    """The LLM usage of one command, summed over its calls."""

    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    calls: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    last_mode: str = field(default="")

    def add(self, completion: Completion) -> None:
        self.model = completion.model
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.latency_ms += completion.latency_ms
        self.calls += 1
        self.started_at = self.started_at or completion.started_at
        self.ended_at = completion.ended_at
        self.last_mode = completion.output_mode

    def as_payload(self) -> LlmUsage:
        return LlmUsage(
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            latency_ms=round(self.latency_ms, 3),
            attempts=max(self.calls, 1),
            started_at=self.started_at,
            ended_at=self.ended_at,
        )


class CommandAnswerer:
    def __init__(
        self,
        llm: ChatModel,
        context: ContextSource,
        *,
        worker_id: str,
        answer_attempts: int = 3,
        context_window: int | None = None,
        probe_context_wait: float = 8.0,
        context_policy: str = ContextPolicy.ANSWER,
    ) -> None:
        self._llm = llm
        self._context = context
        self.worker_id = worker_id
        self.answer_attempts = max(1, answer_attempts)
        # Tokens one LLM request may use; the context asked for is cut to fit what is left.
        self.context_window = context_window
        self.probe_context_wait = probe_context_wait
        self.context_policy = context_policy

    async def answer(self, command: AgentCommand) -> AgentResponse:
        kind = command.kind
        if kind is CommandKind.PROBE:
            return await self.answer_probe(command)
        try:
            inputs = read_inputs(kind, command.inputs)
        except BadInputs as error:
            return self.failed(command, str(error), attempts=0)
        shape = shape_for(kind, inputs)
        context = await self._fetch_context(command, self._context_budget(command, kind, inputs, shape))
        if context.problem:
            metrics.CONTEXT_MISSING.labels(kind=kind.value).inc()
        prompt = build_prompt(kind, command.role, inputs, context.pack, agent_id=command.agent_id)
        _note_suspected_injection(command, prompt.user)
        first_messages = [ChatMessage(role, content) for role, content in prompt.messages()]
        messages = first_messages
        usage = UsageTally()
        verdict = AnswerVerdict(problems=("no answer yet",))
        for attempt in range(1, self.answer_attempts + 1):
            try:
                completion = await self._llm.complete(
                    messages,
                    role=command.role.value,
                    output=StructuredOutput(shape.name, shape.schema),
                    max_tokens=shape.max_tokens,
                    temperature=shape.temperature,
                )
            except (LlmTimedOut, LlmRejected) as error:
                return self.failed(command, str(error), attempts=attempt, usage=usage, context=context)
            usage.add(completion)
            verdict = judge_answer(kind, inputs, shape, completion.content, truncated=completion.truncated)
            metrics.ANSWERS.labels(kind=kind.value, verdict="valid" if verdict.accepted else "invalid").inc()
            if verdict.output is not None:
                return AgentResponseCompleted.answering(
                    command,
                    worker_id=self.worker_id,
                    output=verdict.output,
                    usage=usage.as_payload(),
                    context_version=context.pack.version if context.pack else None,
                    context_error=context.problem,
                )
            log.info(
                "%s %s attempt %d: invalid answer (%s)",
                kind.value,
                command.command_id,
                attempt,
                verdict.summary,
            )
            messages = repair_messages(first_messages, completion, verdict)
        return self.failed(
            command,
            f"no valid {kind.value} answer after {self.answer_attempts} attempts: {verdict.summary}",
            attempts=self.answer_attempts,
            usage=usage,
            context=context,
        )

    async def answer_probe(self, command: AgentCommand) -> AgentResponse:
        """`fleet verify`'s probe: fetch the story's context as real work would, answer what was found.

        The probe story may reach the Context service's graph a moment after its plan approval reaches
        the orchestrator, so a refusal is asked again for a few seconds before it is the answer.
        """
        deadline = time.monotonic() + self.probe_context_wait
        while True:
            context = await self._fetch_context(command, command.token_budget, policy=ContextPolicy.ANSWER)
            if context.pack is not None or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.5)
        pack = context.pack
        output = ProbeOutput(
            plan_id=str(command.inputs.get("plan_id") or ""),
            context_version=pack.version if pack else None,
            context_tokens=pack.token_count if pack else None,
            context_error=context.problem,
        )
        return AgentResponseCompleted.answering(
            command,
            worker_id=self.worker_id,
            output=output.model_dump(mode="json"),
            usage=LlmUsage(attempts=0),
            context_version=output.context_version,
            context_error=context.problem,
        )

    async def _fetch_context(
        self, command: AgentCommand, token_budget: int, *, policy: str | None = None
    ) -> ContextOutcome:
        """The command's context; with the Context service unreachable, the policy says answer or wait."""
        context = await self._context.fetch(
            story_id=command.story_id,
            role=command.role.value,
            phase=command.phase,
            task_id=command.task_id,
            token_budget=token_budget,
        )
        metrics.CONTEXT_REACHABLE.set(1 if context.reachable else 0)
        if context.worth_waiting_for and (policy or self.context_policy) == ContextPolicy.WAIT:
            metrics.CONTEXT_HELD.labels(kind=command.kind.value).inc()
            raise ContextUnavailable(f"{context.problem}; the context policy is to wait for it")
        return context

    def _context_budget(
        self, command: AgentCommand, kind: CommandKind, inputs: KindInputs, shape: AnswerShape
    ) -> int:
        """The command's budget, cut so that context, the rest of the prompt and the answer fit the window."""
        if self.context_window is None:
            return command.token_budget
        bare = build_prompt(kind, command.role, inputs, ContextPack(), agent_id=command.agent_id)
        room = self.context_window - shape.max_tokens - estimate_prompt_tokens(bare) - _CHAT_OVERHEAD
        return max(_MIN_BUDGET, min(command.token_budget, room))

    def failed(
        self,
        command: AgentCommand,
        error: str,
        *,
        attempts: int,
        usage: UsageTally | None = None,
        context: ContextOutcome | None = None,
    ) -> AgentResponseFailed:
        return AgentResponseFailed.answering(
            command,
            worker_id=self.worker_id,
            error=error,
            attempts=attempts,
            usage=usage.as_payload() if usage is not None and usage.calls else None,
            context_version=context.pack.version if context is not None and context.pack else None,
            context_error=context.problem
            if context is not None
            else "no context: the command failed before using one",
        )


def repair_messages(
    first_messages: list[ChatMessage], completion: Completion, verdict: AnswerVerdict
) -> list[ChatMessage]:
    """The next attempt's messages. Each repair starts again from the first prompt: one bad answer
    (left out when it was cut off) and what was wrong with it."""
    repair = repair_request(verdict, truncated=completion.truncated)
    if completion.truncated:
        return [*first_messages, ChatMessage("user", repair)]
    return [
        *first_messages,
        ChatMessage("assistant", redact(echo_of(completion.content))),
        ChatMessage("user", repair),
    ]


_OWN_FENCE = re.compile(r"^<<<(END )?DATA [^\n]*$", re.MULTILINE)


def _note_suspected_injection(command: AgentCommand, user_text: str) -> None:
    """Recorded, not obeyed: the text is fenced as data and the answer must still validate."""
    # The fences the prompt builder wrote itself are not the data's: scan what lies between them.
    suspected = suspected_injection(_OWN_FENCE.sub("", user_text))
    if suspected:
        metrics.INJECTION_SUSPECTED.labels(kind=command.kind.value).inc()
        log.warning(
            "agent command %s (story %s, %s): instruction-like text in its data (%s); answered as data",
            command.command_id,
            command.story_id,
            command.kind.value,
            ", ".join(suspected),
        )
