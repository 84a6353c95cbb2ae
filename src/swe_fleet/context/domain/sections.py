"""Renders a story's graph into named sections of text, each a header and items ordered by relevance.

The order of items inside a section is what the budget cutter relies on: when a section must be
shortened, its tail goes first, so the items that matter most for this role and task come first
(decisions affecting the task before the others, the task's dependencies before other tasks, the
latest events before older ones). Every text is redacted here, before anything is measured.

When the request names a task, each section also says how many of its leading items are about that
task (`focus`): the assembler packs those of every section first and fills the rest of the budget
with background after, so a long section of other tasks' details cannot crowd out a short section
that the task needs. Decisions that were superseded are history: they never appear as current.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from swe_fleet.context.domain.model import (
    ContextRequest,
    DecisionFacts,
    DeliberationFacts,
    StoryGraph,
    TaskFacts,
)
from swe_fleet.context.domain.redaction import redact


@dataclass(frozen=True)
class Section:
    name: str
    header: str
    items: tuple[str, ...]
    # How many leading items are about the request's focus (its task); None = all of them.
    focus: int | None = None

    @property
    def focus_items(self) -> int:
        return len(self.items) if self.focus is None else min(self.focus, len(self.items))

    def render(self, keep: int | None = None) -> str:
        """The section with its first `keep` items (all by default), saying how many were left out."""
        items = self.items if keep is None else self.items[:keep]
        lines = [self.header, *items]
        omitted = len(self.items) - len(items)
        if omitted:
            lines.append(omission_line(omitted))
        return "\n".join(lines)


def omission_line(count: int) -> str:
    return f"… +{count} more"


def _text(value: object) -> str:
    return redact(" ".join(str(value).split())) if value not in (None, "") else ""


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _focused(
    request: ContextRequest, focus: list[str], background: list[str]
) -> tuple[tuple[str, ...], int | None]:
    """Items about the task first, then background (the focus count is None without a task)."""
    kept = [item for item in focus if item]
    return tuple(kept + [item for item in background if item]), (len(kept) if request.task_id else None)


def _date(at: str | None) -> str:
    """The day of an instant: enough for an agent, and a fraction of a full timestamp's tokens."""
    return _text(at)[:10] if at else "?"


def _story(graph: StoryGraph, request: ContextRequest, title: str) -> Section | None:
    story = graph.story
    focus = [
        _join("Brief:", _text(story.brief)) if story.brief else "",
        _join("Epic:", _text(story.epic_title or story.epic_id)) if story.epic_id else "",
        _join("Project:", _text(story.project_name or story.project_id)) if story.project_id else "",
    ]
    if story.placeholder:
        focus.append("Note: the story's own record has not reached the graph yet; details may be missing.")
    background = [
        _join("State:", _text(story.state) or "unknown"),
        _join("Owner:", _text(story.owner)) if story.owner else "",
    ]
    heading = f"## {title}: {_text(story.id)}" + (f" — {_text(story.title)}" if story.title else "")
    items, count = _focused(request, focus, background)
    return Section("story", heading, items, count)


def _acceptance_criteria(graph: StoryGraph, request: ContextRequest, title: str) -> Section | None:
    criteria = list(graph.story.acceptance_criteria)
    plan = _current_plan(graph)
    if plan is not None:
        criteria += [c for c in plan.acceptance_criteria if c not in criteria]
    if not criteria:
        return None
    return Section("acceptance_criteria", f"## {title}", tuple(f"- {_text(c)}" for c in criteria))


def _current_plan(graph: StoryGraph):
    approved = [plan for plan in graph.plans if plan.status == "APPROVED"]
    candidates = approved or list(graph.plans)
    return max(candidates, key=lambda plan: plan.status_at or "", default=None)


def _plan(graph: StoryGraph, request: ContextRequest, title: str) -> Section | None:
    plan = _current_plan(graph)
    if plan is None:
        return None
    approvals = [e for e in graph.plan_events if e.plan_id == plan.id and e.kind == "approved"]
    # The approver's conditions bind every task: they come first.
    focus = [
        f"Approved by {_text(approval.by)} ({_date(approval.at)})"
        + (f": {_text(approval.text)}" if approval.text else "")
        for approval in sorted(approvals, key=lambda e: e.at or "", reverse=True)
    ]
    # For one task the plan's outline is background: its own description and decisions say more.
    background = [
        _join("Description:", _text(plan.description)) if plan.description else "",
        _join("Technical notes:", _text(plan.technical_notes)) if plan.technical_notes else "",
        _join("Status:", _text(plan.status) or "unknown"),
        _join("Roles:", ", ".join(_text(role) for role in plan.roles)) if plan.roles else "",
    ]
    items, count = _focused(request, focus, background)
    return Section("plan", f"## {title}: {_text(plan.id)}", items, count)


def _background(request: ContextRequest) -> int | None:
    """The focus of a section that is background to a task (none of it), or all of it without a task."""
    return 0 if request.task_id is not None else None


def _plan_history(graph: StoryGraph, request: ContextRequest, title: str) -> Section | None:
    events = sorted(graph.plan_events, key=lambda e: e.at or "", reverse=True)
    if not events:
        return None
    items = [
        f"- {_text(e.at)} plan {_text(e.plan_id)} {e.kind} by {_text(e.by)}"
        + (f": {_text(e.text)}" if e.text else "")
        for e in events
    ]
    return Section("plan_history", f"## {title}", tuple(items), _background(request))


def _phase_history(graph: StoryGraph, request: ContextRequest, title: str) -> Section | None:
    transitions = sorted(graph.transitions, key=lambda t: t.at or "", reverse=True)
    if not transitions:
        return None
    items = [
        f"- {_text(t.at)} {_text(t.from_state)} → {_text(t.to_state)} by {_text(t.by)}"
        + (f" ({_text(t.reason)})" if t.reason else "")
        for t in transitions
    ]
    return Section("phase_history", f"## {title}", tuple(items), _background(request))


def _task_line(task: TaskFacts) -> str:
    tags = ", ".join(_text(tag) for tag in (task.role, task.status) if tag)
    deps = f" (depends on {', '.join(_text(d) for d in task.depends_on)})" if task.depends_on else ""
    done = f"; {_execution(task)}" if task.execution else ""
    return f"- {_text(task.id)} [{tags}] {_text(task.title) or '(untitled)'}{deps}{done}"


def _execution(task: TaskFacts) -> str:
    """What the workspace did with the task, in one line a later task's agent can use."""
    run = task.execution
    if run is None:
        return ""
    if run.outcome == "completed":
        files = f" ({', '.join(_text(f) for f in run.files)})" if run.files else ""
        tests = {True: ", tests pass", False: ", tests fail", None: ""}[run.tests_ok]
        return f"carried out on {_text(run.branch)}{files}{tests}: {_text(run.summary)}"
    return f"carrying it out failed: {_text(run.reason)}"


def _result(graph: StoryGraph, task_id: str) -> str | None:
    """A task's outcome: what its workspace did, else the selected proposal of its latest council."""
    task = next((t for t in graph.tasks if t.id == task_id), None)
    if task is not None and task.execution is not None:
        return _execution(task)
    done = _newest([d for d in graph.deliberations if d.task_id == task_id and d.winner_agent_id])
    return (done[0].winner_summary or done[0].winner_content) if done else None


def _focused_task(graph: StoryGraph, request: ContextRequest) -> TaskFacts | None:
    if request.task_id is None:
        return None
    return next((task for task in graph.tasks if task.id == request.task_id), None)


def _rework(graph: StoryGraph, task: TaskFacts) -> tuple[TaskFacts, list[str]]:
    """For an attempt that reworks a task (ADR 0703): the task reworked, and what the agent must
    know first: why the work is asked for again and every QA review of the task's attempts so far."""
    dispatch = next((d for d in graph.dispatches if d.task_id == task.id and d.rework_of), None)
    if dispatch is None or dispatch.rework_of is None:
        return task, []
    origin = dispatch.rework_of
    attempts = {origin} | {d.task_id for d in graph.dispatches if d.rework_of == origin}
    lines = [f"Rework of {_text(origin)}: {_text(dispatch.rework_reason) or 'asked for again'}"]
    for review in graph.reviews:
        if review.task_id in attempts and review.task_id != task.id:
            findings = "; ".join(_text(f) for f in review.findings)
            lines.append(
                f"QA review of {_text(review.task_id)} ({_text(review.verdict)}): {_text(review.summary)}"
                + (f" — findings: {findings}" if findings else "")
            )
    found = next((t for t in graph.tasks if t.id == origin), None)
    return (found if found is not None else task), lines


def _task(graph: StoryGraph, request: ContextRequest, title: str) -> Section | None:
    focused = _focused_task(graph, request)
    if focused is None:
        return None
    task, rework = _rework(graph, focused)
    by_id = {t.id: t for t in graph.tasks}
    focus = [_join("Description:", _text(task.description)) if task.description else "", *rework]
    for dependency in task.depends_on:  # what the task builds on, with the result of each if there is one
        found, result = by_id.get(dependency), _result(graph, dependency)
        if result:  # the result says what the dependency did; its title and status would repeat it
            focus.append(f"Depends on {_text(dependency)}: {_text(result)}")
            continue
        status = f" [{_text(found.status)}]" if found and found.status else ""
        focus.append(
            f"Depends on {_text(dependency)}"
            + (f"{status} {_text(found.title)}" if found else " (not yet known)")
        )
    background = [
        _join("Role:", _text(task.role)) if task.role else "",
        _join("Status:", _text(task.status)) if task.status else "",
        f"Estimate: {task.estimate_hours:g} h" if task.estimate_hours is not None else "",
    ]
    items, count = _focused(request, focus, background)
    heading = f"## {title}: {_text(focused.id)}" + (f" — {_text(task.title)}" if task.title else "")
    return Section("task", heading, items, count)


def _tasks(graph: StoryGraph, request: ContextRequest, title: str) -> Section | None:
    if not graph.tasks:
        return None
    focused = _focused_task(graph, request)
    near = set(focused.depends_on) if focused else set()

    def rank(task: TaskFacts) -> tuple[int, int, str]:
        return (task.id not in near, task.role != request.role, task.id)

    tasks = [t for t in graph.tasks if focused is None or t.id != focused.id]
    if not tasks:
        return None
    # With a task, its dependencies are already named in the task's own section: the rest is background.
    return Section(
        "tasks",
        f"## {title} ({len(graph.tasks)})",
        tuple(_task_line(t) for t in sorted(tasks, key=rank)),
        _background(request),
    )


def _story_wide(decision: DecisionFacts, graph: StoryGraph) -> bool:
    """A decision about no task in particular holds for every task of the story."""
    return decision.task_id is None and (not decision.affects or graph.story.id in decision.affects)


def _decisions(graph: StoryGraph, request: ContextRequest, title: str) -> Section | None:
    current = [decision for decision in graph.decisions if decision.current]
    if not current:
        return None
    task_id = request.task_id
    titles = {decision.id: decision.title for decision in graph.decisions}

    def relevant(decision: DecisionFacts) -> bool:
        return (
            task_id is None
            or decision.task_id == task_id
            or task_id in decision.affects
            or _story_wide(decision, graph)
        )

    def rank(decision: DecisionFacts) -> tuple[bool, bool, str]:
        # About the task (or the whole story) first, then standing before rejected ones, newest first.
        return (not relevant(decision), decision.status == "REJECTED", _reverse(decision.at or ""))

    items = []
    ranked = sorted(current, key=rank)
    for decision in ranked:
        # An approved decision taken by a council is the norm and goes unmarked; anything else is said.
        by = (
            ""
            if (decision.decided_by or "council").endswith("council")
            else f" (by {_text(decision.decided_by)})"
        )
        verdict = "" if decision.status == "APPROVED" else f"[{_text(decision.status) or 'DECIDED'}] "
        if decision.task_id == task_id and task_id is not None:
            scope = " [this task]"
        else:
            scope = f" [task {_text(decision.task_id)}]" if decision.task_id else ""
        replaced = [_text(titles.get(old) or old) for old in decision.supersedes]
        replaces = f" (replaces {'; '.join(replaced)})" if replaced else ""
        items.append(f"- {verdict}{_text(decision.title)}{scope}: {_text(decision.rationale)}{by}{replaces}")
    focus = None if task_id is None else sum(1 for decision in ranked if relevant(decision))
    superseded = [decision for decision in graph.decisions if not decision.current]
    if request.history:  # after the current ones, each saying what replaced it and when
        for decision in sorted(superseded, key=lambda d: _reverse(d.superseded_at or "")):
            replaced_by = _text(titles.get(decision.superseded_by or "") or decision.superseded_by)
            label = f"[SUPERSEDED by {replaced_by} at {_text(decision.superseded_at)}]"
            items.append(f"- {label} {_text(decision.title)}: {_text(decision.rationale)}")
        note = f", {len(superseded)} superseded listed last" if superseded else ""
    else:
        note = f", {len(superseded)} superseded not shown" if superseded else ""
    return Section("decisions", f"## {title} ({len(current)}{note})", tuple(items), focus)


def _reverse(text: str) -> str:
    """A sort key that orders strings descending when sorted ascending (for ISO timestamps)."""
    return "".join(chr(0x10FFFF - ord(char)) for char in text)


def _deliberation_lines(deliberation: DeliberationFacts, detailed: bool) -> list[str]:
    score = f", score {deliberation.winner_score:g}" if deliberation.winner_score is not None else ""
    council = (
        f"{len(deliberation.agents)} {_text(deliberation.role)} agents, {deliberation.rounds or 0} rounds"
    )
    winner = _text(deliberation.winner_agent_id)
    lines = [f"- Task {_text(deliberation.task_id)}: {council}; selected the proposal of {winner}{score}"]
    if detailed:
        lines += [f"  Criterion {_text(line)}" for line in deliberation.winner_criteria]
        if deliberation.winner_content:
            lines.append(f"  Selected proposal: {_text(deliberation.winner_content)}")
        lines += [f"  Agent failure: {_text(line)}" for line in deliberation.failures]
    return lines


def _newest(deliberations: list[DeliberationFacts]) -> list[DeliberationFacts]:
    return sorted(deliberations, key=lambda d: d.completed_at or "", reverse=True)


def _deliberation(graph: StoryGraph, request: ContextRequest, title: str) -> Section | None:
    if not graph.deliberations:
        return None
    if request.task_id is None:
        items = [line for d in _newest(list(graph.deliberations)) for line in _deliberation_lines(d, False)]
        return Section("deliberation", f"## {title}", tuple(items))
    # The results of the task's dependencies are in the task's own section.
    items = [
        line
        for d in _newest([d for d in graph.deliberations if d.task_id == request.task_id])
        for line in _deliberation_lines(d, True)
    ]
    if not items:
        return None
    return Section("deliberation", f"## {title}", tuple(items))


def _dispatches(graph: StoryGraph, request: ContextRequest, title: str) -> Section | None:
    dispatches = sorted(graph.dispatches, key=lambda d: d.at or "", reverse=True)
    if request.task_id is not None:
        dispatches.sort(key=lambda d: d.task_id != request.task_id)
    if not dispatches:
        return None
    items = [
        f"- {_text(d.at)} task {_text(d.task_id)} → {_text(d.agent_id)} ({_text(d.role)})" for d in dispatches
    ]
    own = sum(1 for d in dispatches if d.task_id == request.task_id)
    return Section("dispatches", f"## {title}", tuple(items), None if request.task_id is None else own)


BUILDERS: dict[str, Callable[[StoryGraph, ContextRequest, str], Section | None]] = {
    "story": _story,
    "acceptance_criteria": _acceptance_criteria,
    "plan": _plan,
    "plan_history": _plan_history,
    "phase_history": _phase_history,
    "task": _task,
    "tasks": _tasks,
    "decisions": _decisions,
    "deliberation": _deliberation,
    "dispatches": _dispatches,
}
