"""A story's tasks, their councils and their work in a workspace, assembled from the decision graph's rows.

The queries name labels and relationships from the one vocabulary (graph.schema); the story id is a
parameter, never spliced into the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from swe_fleet.graph.schema import Label as L
from swe_fleet.graph.schema import Rel as R

_TASKS = f"(s:{L.STORY} {{id: $story}})-[:{R.HAS_TASK}]->(t:{L.TASK})"
_DELIBERATIONS = f"{_TASKS}-[:{R.HAS_DELIBERATION}]->(d:{L.DELIBERATION})"
_PROPOSALS = f"{_DELIBERATIONS}-[:{R.HAS_PROPOSAL}]->(p:{L.PROPOSAL})"

QUERIES: Mapping[str, str] = {
    "tasks": (
        f"MATCH {_TASKS} RETURN t.id AS id, t.title AS title, t.role AS role, t.status AS status, "
        "t.description AS description ORDER BY t.id"
    ),
    "deliberations": (
        f"MATCH {_DELIBERATIONS} RETURN t.id AS task_id, d.id AS id, d.outcome AS outcome, "
        "d.reason AS reason, d.winner_proposal_id AS winner_proposal_id, "
        "d.winner_agent_id AS winner_agent_id, d.rounds AS rounds, d.agents AS agents, "
        "d.completed_at AS completed_at ORDER BY d.id"
    ),
    "proposals": (
        f"MATCH {_PROPOSALS} RETURN d.id AS deliberation_id, p.id AS id, p.agent_id AS agent_id, "
        "p.content AS content, p.total_score AS total_score, p.selected AS selected, "
        "p.revision AS revision ORDER BY p.id"
    ),
    "critiques": (
        f"MATCH {_PROPOSALS}-[:{R.HAS_CRITIQUE}]->(c:{L.CRITIQUE}) RETURN p.id AS proposal_id, "
        "c.id AS id, c.author_agent_id AS author, c.content AS content ORDER BY c.id"
    ),
    "results": (
        f"MATCH {_TASKS}-[:{R.HAS_RESULT}]->(r:{L.TASK_RESULT}) RETURN t.id AS task_id, r.id AS id, "
        "r.outcome AS outcome, r.branch AS branch, r.summary AS summary, r.reason AS reason, "
        "r.tests_before_ok AS tests_before_ok, r.tests_after_ok AS tests_after_ok, "
        "r.failing_before AS failing_before, r.failing_after AS failing_after, r.files AS files, "
        "r.insertions AS insertions, r.deletions AS deletions, r.steps AS steps, r.patch AS patch, "
        "r.at AS at ORDER BY r.at"
    ),
    "commits": (
        f"MATCH {_TASKS}-[:{R.HAS_COMMIT}]->(c:{L.COMMIT}) RETURN t.id AS task_id, c.id AS sha, "
        "c.message AS message, c.branch AS branch ORDER BY c.id"
    ),
    "tool_calls": (
        f"MATCH {_TASKS}-[:{R.HAS_TOOL_CALL}]->(x:{L.TOOL_CALL}) RETURN t.id AS task_id, x.id AS id, "
        "x.step AS step, x.attempt AS attempt, x.tool AS tool, x.arguments AS arguments, "
        "x.outcome AS outcome, x.output AS output, x.duration_ms AS duration_ms, x.at AS at"
    ),
    "scores": (
        f"MATCH {_PROPOSALS}-[:{R.HAS_SCORE}]->(x:{L.SCORE}) RETURN p.id AS proposal_id, x.id AS id, "
        "x.judge_agent_id AS judge, x.total AS total, x.criteria AS criteria ORDER BY x.id"
    ),
}


@dataclass
class ProposalView:
    id: str
    agent_id: str
    content: str
    total_score: float | None
    selected: bool
    revision: int | None
    critiques: list[Mapping[str, Any]] = field(default_factory=list)
    scores: list[Mapping[str, Any]] = field(default_factory=list)


@dataclass
class DeliberationView:
    id: str
    outcome: str
    reason: str
    winner_proposal_id: str
    winner_agent_id: str
    rounds: int | None
    agents: list[str]
    proposals: list[ProposalView] = field(default_factory=list)

    @property
    def winner(self) -> ProposalView | None:
        return next((p for p in self.proposals if p.id == self.winner_proposal_id), None)

    @property
    def why(self) -> str:
        """Why the winner won, in a sentence: its score against the runner-up's."""
        winner = self.winner
        if winner is None:
            return self.reason or ""
        others = [p.total_score for p in self.proposals if p is not winner and p.total_score is not None]
        if winner.total_score is None:
            return self.reason or "selected by the council"
        if not others:
            return f"the only scored proposal ({winner.total_score:.2f})"
        return f"highest total score: {winner.total_score:.2f} against {max(others):.2f} for the next best"


@dataclass
class TaskView:
    id: str
    title: str
    role: str
    status: str
    description: str
    deliberations: list[DeliberationView] = field(default_factory=list)
    # Where a workspace carried the task out: its results, commits and tool calls (in step order).
    results: list[Mapping[str, Any]] = field(default_factory=list)
    commits: list[Mapping[str, Any]] = field(default_factory=list)
    tool_calls: list[Mapping[str, Any]] = field(default_factory=list)


def diff_lines(patch: str) -> list[tuple[str, str]]:
    """A unified diff's lines, each with its kind: add, del, hunk, file or context."""
    kinds = []
    for line in patch.splitlines():
        if line.startswith(("+++", "---", "diff --git")):
            kind = "file"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = "context"
        kinds.append((kind, line))
    return kinds


def assemble(rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[TaskView]:
    tasks = {
        row["id"]: TaskView(
            id=row["id"],
            title=row.get("title") or "",
            role=row.get("role") or "",
            status=row.get("status") or "",
            description=row.get("description") or "",
        )
        for row in rows.get("tasks", ())
    }
    deliberations: dict[str, DeliberationView] = {}
    for row in rows.get("deliberations", ()):
        view = DeliberationView(
            id=row["id"],
            outcome=row.get("outcome") or "in progress",
            reason=row.get("reason") or "",
            winner_proposal_id=row.get("winner_proposal_id") or "",
            winner_agent_id=row.get("winner_agent_id") or "",
            rounds=row.get("rounds"),
            agents=list(row.get("agents") or []),
        )
        deliberations[view.id] = view
        if row["task_id"] in tasks:
            tasks[row["task_id"]].deliberations.append(view)
    proposals: dict[str, ProposalView] = {}
    for row in rows.get("proposals", ()):
        proposal = ProposalView(
            id=row["id"],
            agent_id=row.get("agent_id") or "",
            content=row.get("content") or "",
            total_score=row.get("total_score"),
            selected=bool(row.get("selected")),
            revision=row.get("revision"),
        )
        proposals[proposal.id] = proposal
        if row["deliberation_id"] in deliberations:
            deliberations[row["deliberation_id"]].proposals.append(proposal)
    for row in rows.get("critiques", ()):
        if row["proposal_id"] in proposals:
            proposals[row["proposal_id"]].critiques.append(row)
    for row in rows.get("scores", ()):
        if row["proposal_id"] in proposals:
            proposals[row["proposal_id"]].scores.append(row)
    for kind in ("results", "commits", "tool_calls"):
        for row in rows.get(kind, ()):
            if row["task_id"] in tasks:
                getattr(tasks[row["task_id"]], kind).append(row)
    for task in tasks.values():
        task.tool_calls.sort(key=lambda call: (call.get("attempt") or 1, call.get("step") or 0))
    for deliberation in deliberations.values():
        deliberation.proposals.sort(key=lambda p: (not p.selected, -(p.total_score or 0.0), p.id))
    return list(tasks.values())
