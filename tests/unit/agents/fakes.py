"""Fakes for the worker's ports: a scripted chat model and a fixed context source (unit tests only)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from swe_fleet.agents.domain.context_pack import ContextOutcome, ContextPack
from swe_fleet.llm.completion import ChatMessage, Completion


def completion(content: str, *, finish_reason: str = "stop", tokens: int = 10) -> Completion:
    now = datetime.now(UTC)
    return Completion(
        content=content,
        model="fake-model",
        finish_reason=finish_reason,
        prompt_tokens=100,
        completion_tokens=tokens,
        latency_ms=50.0,
        queued_ms=0.0,
        started_at=now,
        ended_at=now,
        attempts=1,
        output_mode="json_schema",
    )


@dataclass
class ScriptedLlm:
    """Answers each call with the next scripted item: a dict (as JSON), a string, a Completion or an error."""

    script: list[Any]
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def complete(self, messages: list[ChatMessage], **options: Any) -> Completion:
        self.calls.append({"messages": list(messages), **options})
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, Completion):
            return item
        return completion(item if isinstance(item, str) else json.dumps(item))


@dataclass
class FixedContext:
    outcome: ContextOutcome = field(
        default_factory=lambda: ContextOutcome(ContextPack(context="Decision D-1: use FastAPI.", version="9"))
    )
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def fetch(self, **request: Any) -> ContextOutcome:
        self.requests.append(request)
        return self.outcome
