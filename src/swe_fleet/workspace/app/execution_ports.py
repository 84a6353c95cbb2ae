"""What carrying out a task needs from the outside, besides the sandbox (`ports.py`): the agent's model,
the task's brief (Planning and Context), the repository, and the ledger of results already given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from swe_fleet.events.payloads import CommitRecord, DiffStats, TaskDispatched
from swe_fleet.workspace.domain.approvals import ParkedTask
from swe_fleet.workspace.domain.tools import Observation, ToolCall

# ---------------------------------------------------------------- the agent loop's model and tools


@dataclass(frozen=True)
class ModelTurn:
    """One answer of the model: the tool calls it chose (or none, with its text, or a problem)."""

    calls: tuple[ToolCall, ...]
    content: str = ""
    # Why no call could be read from the answer (bad JSON in the next-action form...): told back to it.
    problem: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    # The assistant message to keep in the conversation, in OpenAI form.
    message: dict[str, Any] = field(default_factory=dict)


class ModelFailed(Exception):
    """The model could not answer (refused the request, timed out): the task stops, saying why."""


class AgentModel(Protocol):
    """A chat model driven with the tool vocabulary (function calling, or a JSON next action)."""

    async def turn(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelTurn: ...


class ToolRunner(Protocol):
    """Carries out one tool call in the task's checkout; never raises on what a model sends."""

    async def execute(self, call: ToolCall) -> Observation: ...


# ---------------------------------------------------------------- the task's brief


class TaskUnworkable(Exception):
    """The task cannot be carried out as it stands (its project names no repository...): say why."""


@dataclass(frozen=True)
class ProjectRepository:
    repo: str
    base_branch: str = "main"
    test_command: str | None = None


@dataclass(frozen=True)
class TaskBrief:
    """What the agent is told: the task, the council's winning proposal as its plan, its context."""

    task_id: str
    story_id: str
    title: str
    description: str
    repository: ProjectRepository
    plan: str = ""
    context: str = ""
    context_problem: str | None = None


class TaskSource(Protocol):
    async def brief(self, task: TaskDispatched) -> TaskBrief:
        """Raises TaskUnworkable (no repository...) or TransientError (Planning/Context down)."""
        ...


# ---------------------------------------------------------------- the repository


class Checkout(Protocol):
    path: Path
    branch: str
    start_sha: str

    async def task_commit(self, task_id: str) -> CommitRecord | None: ...
    async def commit(self, task_id: str, title: str, body: str = "") -> CommitRecord | None: ...
    async def diff_stats(self, *, commit: str | None = None) -> DiffStats: ...
    async def diff(self, *, limit: int = 200_000, commit: str | None = None) -> str: ...
    async def push(self) -> None: ...
    def discard(self) -> None: ...


class Workspaces(Protocol):
    async def open(self, repo: str, base_branch: str, story_id: str, task_id: str) -> Checkout:
        """Raises TransientError when the repository cannot be reached now, TaskUnworkable when it is
        unusable (not found, no base branch); `Checkout.push` raises TaskUnworkable on a conflict."""
        ...


# ---------------------------------------------------------------- results already given


class ResultLedger(Protocol):
    """Task id -> the encoded result envelope, written before it is published (exactly one per task)."""

    async def get(self, task_id: str) -> bytes | None: ...

    async def record(self, task_id: str, envelope: bytes) -> bytes:
        """Keep `envelope` as the task's result unless one is there already; the one kept."""
        ...


# ---------------------------------------------------------------- tasks waiting for the PO


class ApprovalStore(Protocol):
    """Task id -> its ParkedTask (the approvals it asked for and their verdicts), kept durably."""

    async def get(self, task_id: str) -> ParkedTask | None: ...

    async def change(
        self, task_id: str, change: Callable[[ParkedTask | None], ParkedTask | None]
    ) -> ParkedTask | None:
        """Apply `change` to the task's record atomically (compare-and-set, retried on a race); the
        record kept. `change` returning None leaves the record as it is; what it raises goes up."""
        ...
