"""The surgical context the Context service assembled for one agent call, as the prompt uses it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContextPack:
    system: str = ""
    context: str = ""
    tools: str = ""
    version: str | None = None
    token_count: int | None = None
    sections_cut: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ContextOutcome:
    """A pack, or why there is none (the agent then answers without it, and says so)."""

    pack: ContextPack | None
    problem: str | None = None
