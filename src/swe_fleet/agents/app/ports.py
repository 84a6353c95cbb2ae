"""What answering a command needs from the outside: the story's context, and a chat model.

Adapters: `adapters/context_source.py` (the Context service's HTTP API) and the shared
`swe_fleet.llm.client.LlmClient` (any OpenAI-compatible server); unit tests give scripted fakes.
"""

from __future__ import annotations

from typing import Protocol

from swe_fleet.agents.domain.context_pack import ContextOutcome
from swe_fleet.llm.completion import ChatMessage, Completion, StructuredOutput


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
