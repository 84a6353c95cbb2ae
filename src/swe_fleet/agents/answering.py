"""Answering one agent command: context, prompt, LLM call, answer check, repair; a response either way.

The answer is a completed response with an output that validates against the kind's model, or a
failed response that says why (unusable inputs, no valid answer after the allowed attempts, the
LLM timing out or refusing). The one thing this raises is `LlmUnavailable` (a TransientError): the
LLM server is down, and the worker decides whether to hold the command or give up on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from swe_fleet.agents import metrics
from swe_fleet.agents.domain.answers import AnswerVerdict, echo_of, judge_answer, repair_request
from swe_fleet.agents.domain.context_pack import ContextOutcome
from swe_fleet.agents.domain.inputs import BadInputs, read_inputs
from swe_fleet.agents.domain.prompts import build_prompt
from swe_fleet.agents.domain.shapes import shape_for
from swe_fleet.agents.protocol import CommandKind
from swe_fleet.events.payloads import AgentCommand, AgentResponseCompleted, AgentResponseFailed, LlmUsage
from swe_fleet.llm.completion import ChatMessage, Completion, StructuredOutput
from swe_fleet.llm.errors import LlmRejected, LlmTimedOut

log = logging.getLogger(__name__)

AgentResponse = AgentResponseCompleted | AgentResponseFailed


class ContextSource(Protocol):
    async def fetch(
        self, *, story_id: str, role: str, phase: str, task_id: str | None, token_budget: int
    ) -> ContextOutcome: ...


class ChatModel(Protocol):
    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        role: str | None = None,
        output: StructuredOutput | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion: ...


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
        self, llm: ChatModel, context: ContextSource, *, worker_id: str, answer_attempts: int = 3
    ) -> None:
        self._llm = llm
        self._context = context
        self.worker_id = worker_id
        self.answer_attempts = max(1, answer_attempts)

    async def answer(self, command: AgentCommand) -> AgentResponse:
        kind = CommandKind(command.kind)
        try:
            inputs = read_inputs(kind, command.inputs)
        except BadInputs as error:
            return self.failed(command, str(error), attempts=0)
        context = await self._context.fetch(
            story_id=command.story_id,
            role=command.role.value,
            phase=command.phase,
            task_id=command.task_id,
            token_budget=command.token_budget,
        )
        if context.problem:
            metrics.CONTEXT_MISSING.labels(kind=kind.value).inc()
        shape = shape_for(kind, inputs)
        prompt = build_prompt(kind, command.role, inputs, context.pack, agent_id=command.agent_id)
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
                return self.failed(command, str(error), attempts=attempt, usage=usage)
            usage.add(completion)
            verdict = judge_answer(kind, inputs, shape, completion.content, truncated=completion.truncated)
            metrics.ANSWERS.labels(kind=kind.value, verdict="valid" if verdict.accepted else "invalid").inc()
            if verdict.output is not None:
                return AgentResponseCompleted(
                    **_about(command),
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
            # Each repair starts again from the first prompt: one bad answer and what was wrong with it.
            repair = repair_request(verdict, truncated=completion.truncated)
            if completion.truncated:
                messages = [*first_messages, ChatMessage("user", repair)]
            else:
                messages = [
                    *first_messages,
                    ChatMessage("assistant", echo_of(completion.content)),
                    ChatMessage("user", repair),
                ]
        return self.failed(
            command,
            f"no valid {kind.value} answer after {self.answer_attempts} attempts: {verdict.summary}",
            attempts=self.answer_attempts,
            usage=usage,
        )

    def failed(
        self, command: AgentCommand, error: str, *, attempts: int, usage: UsageTally | None = None
    ) -> AgentResponseFailed:
        return AgentResponseFailed(
            **_about(command),
            worker_id=self.worker_id,
            error=error,
            attempts=attempts,
            usage=usage.as_payload() if usage is not None and usage.calls else None,
        )


def _about(command: AgentCommand) -> dict:
    return {
        "command_id": command.command_id,
        "kind": command.kind,
        "story_id": command.story_id,
        "task_id": command.task_id,
        "deliberation_id": command.deliberation_id,
        "agent_id": command.agent_id,
    }
