"""Turning an agent's derived tasks into TaskSpecs, or into a precise repair message for its next attempt.

The model check (`DerivedTasks`) is only the first gate: the tasks must also form a usable plan of
work — unique short keys and titles, dependencies that exist, are not the task itself and have no
cycle, roles that have a council (and that the plan asked for), estimates within bounds.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from swe_fleet.events.agent_protocol import DerivedTasks, TaskDraft
from swe_fleet.events.payloads import Role, TaskSpec
from swe_fleet.orchestrator.domain import ids

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


@dataclass(frozen=True)
class DerivationProblem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class DerivationVerdict:
    tasks: tuple[TaskSpec, ...] = ()
    problems: tuple[DerivationProblem, ...] = ()
    roles_allowed: tuple[Role, ...] = field(default=(), compare=False)
    max_estimate_hours: float = field(default=0.0, compare=False)
    max_tasks: int = field(default=12, compare=False)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.tasks)

    def summary(self, limit: int = 5) -> str:
        shown = "; ".join(str(problem) for problem in self.problems[:limit])
        more = len(self.problems) - limit
        return shown + (f"; and {more} more" if more > 0 else "")

    def repair_message(self) -> str:
        """What the deriving agent is told on its next attempt: every problem, then the rules."""
        lines = ["Your previous answer could not be used:"]
        lines += [f"{n}. {problem}" for n, problem in enumerate(self.problems[:12], start=1)]
        if len(self.problems) > 12:
            lines.append(f"... and {len(self.problems) - 12} more problems of the same kinds.")
        roles = ", ".join(role.value for role in self.roles_allowed)
        lines.append(
            f'Answer again with the complete JSON object {{"tasks": [...]}} (1 to {self.max_tasks} tasks). '
            "Each task needs: "
            'key (short and unique, letters/digits/-/_ only, such as "T1"), title (unique), description, '
            f"role (one of {roles}), estimate_hours (more than 0, at most {self.max_estimate_hours:g}) "
            "and depends_on (keys of other tasks in this answer; no task may depend on itself or, "
            "through others, on a task that depends on it)."
        )
        return "\n".join(lines)


def validate_derived_tasks(
    output: Mapping[str, Any],
    *,
    plan_id: str,
    generation: int,
    council_roles: Collection[Role],
    plan_roles: Sequence[Role],
    max_estimate_hours: float,
    max_tasks: int = 12,
) -> DerivationVerdict:
    allowed = tuple(role for role in Role if role in council_roles and (not plan_roles or role in plan_roles))
    verdict = _verdict(allowed, max_estimate_hours, max_tasks)
    try:
        derived = DerivedTasks.model_validate(output)
    except ValidationError as error:
        return verdict(tuple(_model_problems(error)))

    drafts = derived.tasks
    problems: list[DerivationProblem] = []
    if len(drafts) > max_tasks:
        problems.append(
            DerivationProblem("tasks", f"{len(drafts)} tasks; at most {max_tasks}: merge the smallest ones")
        )
    problems += _key_problems(drafts)
    problems += _title_problems(drafts)
    problems += _role_problems(drafts, allowed, plan_roles)
    problems += _estimate_problems(drafts, max_estimate_hours)
    dependency_problems = _dependency_problems(drafts)
    problems += dependency_problems
    if not dependency_problems:
        cycle = find_cycle({d.key: list(d.depends_on) for d in drafts})
        if cycle:
            problems.append(
                DerivationProblem("tasks", "dependency cycle " + " -> ".join(cycle) + ": break it")
            )
    if problems:
        return verdict(tuple(problems))

    task_ids = {d.key: ids.task_id(plan_id, d.key, generation) for d in drafts}
    tasks = tuple(
        TaskSpec(
            task_id=task_ids[d.key],
            key=d.key,
            title=d.title.strip(),
            description=d.description.strip(),
            role=d.role,
            estimate_hours=d.estimate_hours,
            depends_on=[task_ids[dep] for dep in dict.fromkeys(d.depends_on)],
        )
        for d in topological_order(drafts)
    )
    return _verdict(allowed, max_estimate_hours, max_tasks)((), tasks)


def _verdict(allowed: tuple[Role, ...], max_hours: float, max_tasks: int):
    def make(problems: tuple[DerivationProblem, ...], tasks: tuple[TaskSpec, ...] = ()) -> DerivationVerdict:
        return DerivationVerdict(
            tasks=tasks,
            problems=problems,
            roles_allowed=allowed,
            max_estimate_hours=max_hours,
            max_tasks=max_tasks,
        )

    return make


def _where(location: Sequence[Any]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "answer"


def _model_problems(error: ValidationError) -> list[DerivationProblem]:
    return [DerivationProblem(_where(item["loc"]), item["msg"]) for item in error.errors()[:20]]


def _key_problems(drafts: Sequence[TaskDraft]) -> list[DerivationProblem]:
    problems = []
    seen: dict[str, int] = {}
    for index, draft in enumerate(drafts):
        if not KEY_PATTERN.match(draft.key):
            problems.append(
                DerivationProblem(
                    f"tasks[{index}].key",
                    f"{draft.key!r} must be 1-16 letters, digits, '-' or '_' (such as T{index + 1})",
                )
            )
        if draft.key in seen:
            problems.append(
                DerivationProblem(
                    f"tasks[{index}].key", f"{draft.key!r} is already the key of tasks[{seen[draft.key]}]"
                )
            )
        seen.setdefault(draft.key, index)
    return problems


def _title_problems(drafts: Sequence[TaskDraft]) -> list[DerivationProblem]:
    problems = []
    seen: dict[str, int] = {}
    for index, draft in enumerate(drafts):
        normal = " ".join(draft.title.lower().split())
        if normal in seen:
            problems.append(
                DerivationProblem(
                    f"tasks[{index}].title",
                    f"{draft.title!r} repeats the title of tasks[{seen[normal]}]: merge or rename them",
                )
            )
        seen.setdefault(normal, index)
    return problems


def _role_problems(
    drafts: Sequence[TaskDraft], allowed: tuple[Role, ...], plan_roles: Sequence[Role]
) -> list[DerivationProblem]:
    problems = []
    names = ", ".join(role.value for role in allowed) or "none"
    for index, draft in enumerate(drafts):
        if draft.role not in allowed:
            why = "the plan asks for" if plan_roles else "have a council"
            problems.append(
                DerivationProblem(
                    f"tasks[{index}].role",
                    f"{draft.role.value} is not one of the roles that {why}: {names}",
                )
            )
    return problems


def _estimate_problems(drafts: Sequence[TaskDraft], max_hours: float) -> list[DerivationProblem]:
    return [
        DerivationProblem(
            f"tasks[{index}].estimate_hours",
            f"{draft.estimate_hours:g} hours is more than the {max_hours:g} a single task may take: split it",
        )
        for index, draft in enumerate(drafts)
        if draft.estimate_hours > max_hours
    ]


def _dependency_problems(drafts: Sequence[TaskDraft]) -> list[DerivationProblem]:
    keys = [d.key for d in drafts]
    known = ", ".join(keys)
    problems = []
    for index, draft in enumerate(drafts):
        for dep in draft.depends_on:
            if dep == draft.key:
                problems.append(DerivationProblem(f"tasks[{index}].depends_on", f"{dep!r} depends on itself"))
            elif dep not in keys:
                problems.append(
                    DerivationProblem(
                        f"tasks[{index}].depends_on", f"{dep!r} is not the key of any task (keys: {known})"
                    )
                )
    return problems


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as a path that ends where it starts (["T1", "T2", "T1"]), or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in colour:
                continue
            if colour[nxt] == grey:
                return [*stack[stack.index(nxt) :], nxt]
            if colour[nxt] == white:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = black
        return None

    for node in graph:
        if colour[node] == white:
            found = visit(node)
            if found:
                return found
    return None


def topological_order(drafts: Sequence[TaskDraft]) -> list[TaskDraft]:
    """Dependencies first; otherwise the agent's own order (stable, so the result is deterministic)."""
    remaining = list(drafts)
    done: set[str] = set()
    ordered: list[TaskDraft] = []
    while remaining:
        ready = next(d for d in remaining if set(d.depends_on) <= done)  # acyclic: always one
        ordered.append(ready)
        done.add(ready.key)
        remaining.remove(ready)
    return ordered
