"""The agent loop: the model picks a tool, the workspace carries it out, the observation goes back.

Bounded three ways, whichever comes first: tool calls (`max_steps`), tokens spent (prompt and
completion, summed over every model call) and wall time. It ends when the model calls
`finish(summary)`; every other ending is a stop with its reason, never an exception for what the
model did. A command that needs the Product Owner's approval ends the loop too (AWAITING_APPROVAL,
the step kept): the task is parked until the verdict (ADR 0612). Each carried-out call is handed to
`on_step` (the service publishes it as an event).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from swe_fleet.workspace.app.execution_ports import AgentModel, ModelFailed, ToolRunner
from swe_fleet.workspace.domain.conversation import compact
from swe_fleet.workspace.domain.tools import (
    FinishArgs,
    Observation,
    ToolCall,
    ToolName,
)

NUDGE = "Call one of the tools. When the task is done and checked, call finish with a summary."


class StopReason(StrEnum):
    FINISHED = "finished"
    MAX_STEPS = "max_steps"
    MAX_TOKENS = "max_tokens"
    MAX_SECONDS = "max_seconds"
    MODEL_FAILED = "model_failed"
    AWAITING_APPROVAL = "awaiting_approval"


@dataclass(frozen=True)
class LoopLimits:
    max_steps: int = 40
    max_tokens: int = 200_000
    max_seconds: float = 1800.0
    # The conversation sent to the model is kept under this many characters (old observations shortened).
    max_history_characters: int = 400_000


@dataclass(frozen=True)
class Step:
    index: int
    call: ToolCall
    observation: Observation


@dataclass
class LoopResult:
    stop: StopReason
    summary: str = ""
    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    tool_seconds: float = 0.0
    # The call that needs the PO's approval, when the loop stopped for it.
    waiting_on: Step | None = None

    @property
    def finished(self) -> bool:
        return self.stop is StopReason.FINISHED

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


OnStep = Callable[[Step], Awaitable[None]]


async def _nothing(_: Step) -> None:
    return None


class AgentLoop:
    def __init__(
        self,
        model: AgentModel,
        tools: ToolRunner,
        tool_schemas: list[dict[str, Any]],
        limits: LoopLimits,
        *,
        on_step: OnStep = _nothing,
    ) -> None:
        self._model = model
        self._tools = tools
        self._schemas = tool_schemas
        self._limits = limits
        self._on_step = on_step

    async def run(self, system: str, task: str) -> LoopResult:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": task},
        ]
        result = LoopResult(StopReason.MAX_STEPS)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._limits.max_seconds):
                await self._converse(messages, result)
        except TimeoutError:
            result.stop = StopReason.MAX_SECONDS
            result.summary = (
                f"stopped after {time.monotonic() - started:.0f}s (limit {self._limits.max_seconds:.0f}s)"
            )
        return result

    async def _converse(self, messages: list[dict[str, Any]], result: LoopResult) -> None:
        limits = self._limits
        while True:
            if result.steps >= limits.max_steps:
                result.stop, result.summary = StopReason.MAX_STEPS, f"stopped after {result.steps} steps"
                return
            if result.tokens >= limits.max_tokens:
                result.stop = StopReason.MAX_TOKENS
                result.summary = f"stopped after {result.tokens} tokens (limit {limits.max_tokens})"
                return
            try:
                turn = await self._model.turn(compact(messages, limits.max_history_characters), self._schemas)
            except ModelFailed as error:
                result.stop, result.summary = StopReason.MODEL_FAILED, f"the model failed: {error}"
                return
            result.prompt_tokens += turn.prompt_tokens
            result.completion_tokens += turn.completion_tokens
            result.llm_seconds += turn.llm_seconds
            messages.append(turn.message or {"role": "assistant", "content": turn.content})
            if not turn.calls:
                result.steps += 1  # an answer with no action still counts: a chatty model must stop
                messages.append({"role": "user", "content": turn.problem or NUDGE})
                continue
            for call in turn.calls:
                if result.steps >= limits.max_steps:
                    break
                summary = await self._carry_out(call, messages, result)
                if summary is not None:
                    result.stop, result.summary = StopReason.FINISHED, summary
                    return
                if result.waiting_on is not None:
                    result.stop = StopReason.AWAITING_APPROVAL
                    result.summary = result.waiting_on.observation.summary
                    return

    async def _carry_out(
        self, call: ToolCall, messages: list[dict[str, Any]], result: LoopResult
    ) -> str | None:
        """Run one call; the finish summary when it was a valid `finish`, else None."""
        finished: str | None = None
        if call.name == ToolName.FINISH:
            try:
                finished = FinishArgs.model_validate(call.arguments).summary
                observation = Observation(
                    tool=call.name, call_id=call.call_id, ok=True, summary="task finished"
                )
            except ValidationError as error:
                problem = f"finish: {error.errors()[0]['msg']}"
                observation = Observation(
                    tool=call.name, call_id=call.call_id, ok=False, summary=problem, refused_reason=problem
                )
        else:
            started = time.monotonic()
            observation = await self._tools.execute(call)
            result.tool_seconds += time.monotonic() - started
        step = Step(result.steps, call, observation)
        result.steps += 1
        messages.append({"role": "tool", "tool_call_id": call.call_id, "content": observation.for_model()})
        await self._on_step(step)
        if observation.approval_required:
            result.waiting_on = step
        return finished
