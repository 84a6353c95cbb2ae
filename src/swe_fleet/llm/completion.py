"""What goes into a chat completion and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class StructuredOutput:
    """Ask for JSON matching `schema` (grammar-constrained where the server can)."""

    name: str
    schema: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ToolCallRequest:
    """One function call the model asked for (OpenAI `tool_calls[i]`); `arguments` is its raw JSON text."""

    id: str
    name: str
    arguments: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class Completion:
    content: str
    model: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    # From the moment the request left (after the concurrency limit let it through) to the answer,
    # retries included; `queued_ms` is the time spent waiting for the concurrency limit.
    latency_ms: float
    queued_ms: float
    started_at: datetime
    ended_at: datetime
    attempts: int
    # How the answer was constrained: json_schema, json_object or none.
    output_mode: str
    # The functions the model called, when it was offered tools.
    tool_calls: tuple[ToolCallRequest, ...] = ()

    @property
    def truncated(self) -> bool:
        """The answer hit max_tokens: its JSON, if any, is probably cut off."""
        return self.finish_reason == "length"
