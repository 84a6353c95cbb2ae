"""Where a story's tokens went: the agents' LLM use per answer, rolled up per task, council, role and kind.

The inputs are the graph's records: one per agent answer (`LlmCall`, prompt and completion tokens and
LLM time summed over its calls) and one per workspace task result (its agent's tokens). Every total
is a plain sum of those records, so the story's total is, by construction, the sum of its calls.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CallUsage:
    """The LLM use of one agent answer (or of one workspace task run)."""

    id: str
    kind: str  # generate, critique, revise, score, derive... or workspace
    role: str | None
    task_id: str | None
    deliberation_id: str | None
    agent_id: str | None
    outcome: str | None
    prompt_tokens: int
    completion_tokens: int
    llm_ms: float = 0.0
    calls: int = 1
    at: str | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Totals:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_ms: float = 0.0
    calls: int = 0
    answers: int = 0

    def add(self, call: CallUsage) -> None:
        self.prompt_tokens += call.prompt_tokens
        self.completion_tokens += call.completion_tokens
        self.llm_ms += call.llm_ms
        self.calls += call.calls
        self.answers += 1

    def as_dict(self) -> dict[str, float | int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens": self.prompt_tokens + self.completion_tokens,
            "llm_seconds": round(self.llm_ms / 1000, 3),
            "llm_calls": self.calls,
            "answers": self.answers,
        }


@dataclass
class StoryUsage:
    story_id: str
    total: Totals = field(default_factory=Totals)
    by_task: dict[str, Totals] = field(default_factory=lambda: defaultdict(Totals))
    by_deliberation: dict[str, Totals] = field(default_factory=lambda: defaultdict(Totals))
    by_role: dict[str, Totals] = field(default_factory=lambda: defaultdict(Totals))
    by_kind: dict[str, Totals] = field(default_factory=lambda: defaultdict(Totals))

    def as_dict(self) -> dict[str, object]:
        def table(groups: dict[str, Totals]) -> dict[str, object]:
            return {key: groups[key].as_dict() for key in sorted(groups)}

        return {
            "story_id": self.story_id,
            "total": self.total.as_dict(),
            "by_task": table(self.by_task),
            "by_deliberation": table(self.by_deliberation),
            "by_role": table(self.by_role),
            "by_kind": table(self.by_kind),
        }


NONE = "(none)"  # the group of answers that name no task, council or role (a plan's derivation...)


def roll_up(story_id: str, calls: Iterable[CallUsage]) -> StoryUsage:
    """Every call counted once in the total and once in each grouping."""
    usage = StoryUsage(story_id)
    for call in calls:
        usage.total.add(call)
        usage.by_task[call.task_id or NONE].add(call)
        usage.by_deliberation[call.deliberation_id or NONE].add(call)
        usage.by_role[call.role or NONE].add(call)
        usage.by_kind[call.kind].add(call)
    return usage
