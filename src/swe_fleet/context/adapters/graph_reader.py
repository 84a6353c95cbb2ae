"""Reads one story's part of the decision graph into the assembler's model, in one snapshot.

The queries are the same Cypher on Ladybug and Neo4j: flat patterns from the story by relationship
type, explicit property lists (no map projections, which Ladybug lacks), no label functions. They
run in one read transaction, so the version and the facts come from the same snapshot: a pack is
never cached under a version newer than its content.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from swe_fleet.context.domain.history import DecisionNotFound, DecisionWhy, ProposalFacts, explain
from swe_fleet.context.domain.model import (
    DecisionFacts,
    DeliberationFacts,
    DispatchFacts,
    ExecutionFacts,
    PlanEventFacts,
    PlanFacts,
    ReviewFacts,
    StoryFacts,
    StoryGraph,
    StoryNotFound,
    TaskFacts,
    TransitionFacts,
)
from swe_fleet.context.domain.usage import CallUsage, StoryUsage, roll_up
from swe_fleet.graph.port import GraphStore

STORY = """
MATCH (s:Story {id: $story_id})
OPTIONAL MATCH (e:Epic)-[:CONTAINS]->(s)
OPTIONAL MATCH (p:Project)-[:CONTAINS]->(e)
RETURN s.id AS id, s.title AS title, s.brief AS brief, s.acceptance_criteria AS acceptance_criteria,
       s.owner AS owner, s.state AS state, s.placeholder AS placeholder, s.version AS story_version,
       e.id AS epic_id, e.title AS epic_title, e.version AS epic_version,
       p.id AS project_id, p.name AS project_name, p.version AS project_version
"""

PLANS = """
MATCH (s:Story {id: $story_id})-[:HAS_PLAN]->(p:Plan)
RETURN p.id AS id, p.status AS status, p.description AS description,
       p.acceptance_criteria AS acceptance_criteria, p.technical_notes AS technical_notes,
       p.roles AS roles, p.status_at AS status_at
"""

APPROVALS = """
MATCH (s:Story {id: $story_id})-[:HAS_APPROVAL]->(a:PlanApproval)
RETURN a.plan_id AS plan_id, a.approved_by AS by, a.notes AS text, a.approved_at AS at
"""

REJECTIONS = """
MATCH (s:Story {id: $story_id})-[:HAS_REJECTION]->(r:PlanRejection)
RETURN r.plan_id AS plan_id, r.rejected_by AS by, r.reason AS text, r.rejected_at AS at
"""

TRANSITIONS = """
MATCH (s:Story {id: $story_id})-[:HAS_TRANSITION]->(t:PhaseTransition)
RETURN t.from_state AS from_state, t.to_state AS to_state, t.transitioned_by AS by,
       t.reason AS reason, t.at AS at
"""

TASKS = """
MATCH (s:Story {id: $story_id})-[:HAS_TASK]->(t:Task)
OPTIONAL MATCH (t)-[:HAS_RESULT]->(r:TaskResult)
RETURN t.id AS id, t.title AS title, t.description AS description, t.role AS role,
       t.estimate_hours AS estimate_hours, t.status AS status,
       r.outcome AS executed, r.summary AS execution_summary, r.reason AS execution_reason,
       r.branch AS execution_branch, r.files AS execution_files, r.tests_after_ok AS execution_tests_ok
"""

DEPENDENCIES = """
MATCH (s:Story {id: $story_id})-[:HAS_TASK]->(t:Task)-[:DEPENDS_ON]->(d:Task)
RETURN t.id AS task_id, d.id AS depends_on
"""

DECISIONS = """
MATCH (s:Story {id: $story_id})-[:HAS_DECISION]->(d:Decision)
RETURN d.id AS id, d.title AS title, d.rationale AS rationale, d.decided_by AS decided_by,
       d.status AS status, d.source AS source, d.task_id AS task_id, d.affects_ids AS affects,
       d.status_at AS at, d.supersedes AS supersedes, d.superseded_by AS superseded_by,
       d.superseded_at AS superseded_at
"""

DELIBERATIONS = """
MATCH (s:Story {id: $story_id})-[:HAS_TASK]->(t:Task)-[:HAS_DELIBERATION]->(d:Deliberation)
OPTIONAL MATCH (d)-[:SELECTED]->(w:Proposal)
RETURN d.id AS id, t.id AS task_id, d.role AS role, d.rounds AS rounds, d.agents AS agents,
       d.winner_agent_id AS winner_agent_id, d.failures AS failures, d.completed_at AS completed_at,
       w.content AS winner_content, w.total_score AS winner_score, w.summary AS winner_summary
"""

WINNER_SCORES = """
MATCH (s:Story {id: $story_id})-[:HAS_TASK]->(t:Task {id: $task_id})-[:HAS_DELIBERATION]->(d:Deliberation)
MATCH (d)-[:SELECTED]->(w:Proposal)-[:HAS_SCORE]->(sc:Score)
RETURN d.id AS deliberation_id, sc.criteria AS criteria
"""

DECISION_STORY = """
MATCH (s:Story)-[:HAS_DECISION]->(d:Decision {id: $decision_id})
RETURN s.id AS story_id
"""

DECISION_COUNCIL = """
MATCH (x:Decision {id: $decision_id})-[:DECIDED_IN]->(d:Deliberation)
OPTIONAL MATCH (d)-[:HAS_PROPOSAL]->(p:Proposal)
RETURN d.id AS id, d.task_id AS task_id, d.role AS role, d.rounds AS rounds, d.agents AS agents,
       d.winner_agent_id AS winner_agent_id, d.failures AS failures, d.completed_at AS completed_at,
       p.id AS proposal_id, p.agent_id AS agent_id, p.summary AS summary, p.content AS content,
       p.total_score AS total_score, p.selected AS selected
"""

LLM_CALLS = """
MATCH (c:LlmCall)
WHERE c.story_id = $story_id
RETURN c.id AS id, c.kind AS kind, c.role AS role, c.task_id AS task_id, c.deliberation_id AS deliberation_id,
       c.agent_id AS agent_id, c.outcome AS outcome, c.prompt_tokens AS prompt_tokens,
       c.completion_tokens AS completion_tokens, c.latency_ms AS llm_ms, c.calls AS calls, c.at AS at
"""

WORKSPACE_RUNS = """
MATCH (s:Story {id: $story_id})-[:HAS_TASK]->(t:Task)-[:HAS_RESULT]->(r:TaskResult)
RETURN r.id AS id, t.role AS role, t.id AS task_id, r.outcome AS outcome, r.prompt_tokens AS prompt_tokens,
       r.completion_tokens AS completion_tokens, r.steps AS steps, r.at AS at
"""

DISPATCHES = """
MATCH (s:Story {id: $story_id})-[:HAS_TASK]->(t:Task)-[:HAS_DISPATCH]->(x:TaskDispatch)
RETURN t.id AS task_id, x.agent_id AS agent_id, x.role AS role, x.at AS at,
       x.rework_of AS rework_of, x.rework_reason AS rework_reason
"""

REVIEWS = """
MATCH (s:Story {id: $story_id})-[:HAS_TASK]->(t:Task)-[:HAS_REVIEW]->(r:Review)
RETURN t.id AS task_id, r.verdict AS verdict, r.summary AS summary, r.findings AS findings,
       r.head AS head, r.at AS at
"""


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(value) if value else ()


def context_version(row: dict[str, Any]) -> int:
    """A story's context changes with the story, its epic or its project: the newest of their versions."""
    return max(int(row.get(key) or 0) for key in ("story_version", "epic_version", "project_version"))


def story_facts(row: dict[str, Any]) -> StoryFacts:
    return StoryFacts(
        id=row["id"],
        title=row.get("title"),
        brief=row.get("brief"),
        acceptance_criteria=_tuple(row.get("acceptance_criteria")),
        owner=row.get("owner"),
        state=row.get("state"),
        placeholder=bool(row.get("placeholder")),
        epic_id=row.get("epic_id"),
        epic_title=row.get("epic_title"),
        project_id=row.get("project_id"),
        project_name=row.get("project_name"),
    )


def plan_facts(row: dict[str, Any]) -> PlanFacts:
    return PlanFacts(
        id=row["id"],
        status=row.get("status"),
        description=row.get("description"),
        acceptance_criteria=_tuple(row.get("acceptance_criteria")),
        technical_notes=row.get("technical_notes"),
        roles=_tuple(row.get("roles")),
        status_at=row.get("status_at"),
    )


def task_facts(row: dict[str, Any], depends_on: list[str]) -> TaskFacts:
    return TaskFacts(
        id=row["id"],
        title=row.get("title"),
        description=row.get("description"),
        role=row.get("role"),
        estimate_hours=row.get("estimate_hours"),
        status=row.get("status"),
        depends_on=tuple(sorted(depends_on)),
        execution=execution_facts(row),
    )


def execution_facts(row: dict[str, Any]) -> ExecutionFacts | None:
    if not row.get("executed"):
        return None
    return ExecutionFacts(
        outcome=row["executed"],
        summary=row.get("execution_summary"),
        reason=row.get("execution_reason"),
        branch=row.get("execution_branch"),
        files=_tuple(row.get("execution_files")),
        tests_ok=row.get("execution_tests_ok"),
    )


def decision_facts(row: dict[str, Any]) -> DecisionFacts:
    return DecisionFacts(
        id=row["id"],
        title=row.get("title"),
        rationale=row.get("rationale"),
        decided_by=row.get("decided_by"),
        status=row.get("status"),
        source=row.get("source"),
        task_id=row.get("task_id"),
        affects=_tuple(row.get("affects")),
        at=(row.get("at") or "").split("|")[0] or None,
        superseded_by=row.get("superseded_by"),
        superseded_at=row.get("superseded_at"),
        supersedes=_tuple(row.get("supersedes")),
    )


def deliberation_facts(row: dict[str, Any], criteria: list[str]) -> DeliberationFacts:
    return DeliberationFacts(
        id=row["id"],
        task_id=row.get("task_id"),
        role=row.get("role"),
        rounds=row.get("rounds"),
        agents=_tuple(row.get("agents")),
        winner_agent_id=row.get("winner_agent_id"),
        winner_content=row.get("winner_content"),
        winner_score=row.get("winner_score"),
        winner_criteria=tuple(criteria),
        failures=_tuple(row.get("failures")),
        completed_at=row.get("completed_at"),
        winner_summary=row.get("winner_summary"),
    )


def _plan_events(
    approvals: list[dict[str, Any]], rejections: list[dict[str, Any]]
) -> tuple[PlanEventFacts, ...]:
    return tuple(
        [PlanEventFacts(r["plan_id"], "approved", r.get("by"), r.get("text"), r.get("at")) for r in approvals]
        + [
            PlanEventFacts(r["plan_id"], "rejected", r.get("by"), r.get("text"), r.get("at"))
            for r in rejections
        ]
    )


def _grouped(rows: list[dict[str, Any]], key: str, value: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        item = row.get(value)
        if item is not None:
            groups[row[key]] += list(item) if isinstance(item, list) else [item]
    return groups


def story_graph(results: list[list[dict[str, Any]]], with_scores: bool) -> StoryGraph:
    """The assembler's model from the rows of the LOAD queries (in their order)."""
    (
        story_rows,
        plans,
        approvals,
        rejections,
        transitions,
        tasks,
        deps,
        decisions,
        deliberations,
        dispatches,
    ) = results[:10]
    depends_on = _grouped(deps, "task_id", "depends_on")
    reviews = results[10]
    criteria = _grouped(results[11] if with_scores else [], "deliberation_id", "criteria")
    return StoryGraph(
        story=story_facts(story_rows[0]),
        version=context_version(story_rows[0]),
        plans=tuple(plan_facts(row) for row in plans),
        plan_events=_plan_events(approvals, rejections),
        transitions=tuple(
            TransitionFacts(r.get("from_state"), r.get("to_state"), r.get("by"), r.get("reason"), r.get("at"))
            for r in transitions
        ),
        tasks=tuple(
            sorted((task_facts(row, depends_on.get(row["id"], [])) for row in tasks), key=lambda t: t.id)
        ),
        decisions=tuple(decision_facts(row) for row in sorted(decisions, key=lambda r: r["id"])),
        deliberations=tuple(
            deliberation_facts(row, criteria.get(row["id"], []))
            for row in sorted(deliberations, key=lambda r: r["id"])
        ),
        dispatches=tuple(
            DispatchFacts(
                row["task_id"],
                row.get("agent_id"),
                row.get("role"),
                row.get("at"),
                row.get("rework_of"),
                row.get("rework_reason"),
            )
            for row in sorted(dispatches, key=lambda r: (r.get("at") or "", r["task_id"]))
        ),
        reviews=tuple(
            ReviewFacts(
                row["task_id"],
                row.get("verdict"),
                row.get("summary"),
                _tuple(row.get("findings")),
                row.get("head"),
                row.get("at"),
            )
            for row in sorted(reviews, key=lambda r: (r.get("at") or "", r["task_id"]))
        ),
    )


class StoryGraphReader:
    def __init__(self, store: GraphStore) -> None:
        self._store = store

    async def header(self, story_id: str) -> tuple[StoryFacts, int]:
        """The story's own facts and its context version (one small query: the cache's key)."""
        rows = await self._store.read(STORY, {"story_id": story_id})
        if not rows:
            raise StoryNotFound(f"story {story_id!r} is not in the context graph")
        return story_facts(rows[0]), context_version(rows[0])

    async def load(self, story_id: str, task_id: str | None = None) -> StoryGraph:
        params = {"story_id": story_id}
        queries = [
            (query, params)
            for query in (STORY, PLANS, APPROVALS, REJECTIONS, TRANSITIONS, TASKS, DEPENDENCIES, DECISIONS)
        ]
        queries += [(DELIBERATIONS, params), (DISPATCHES, params), (REVIEWS, params)]
        if task_id:
            queries.append((WINNER_SCORES, {"story_id": story_id, "task_id": task_id}))
        results = await self._store.read_many(queries)
        if not results[0]:
            raise StoryNotFound(f"story {story_id!r} is not in the context graph")
        return story_graph(results, with_scores=bool(task_id))

    async def usage(self, story_id: str) -> StoryUsage:
        """Where the story's tokens went: its agents' answers and its workspace runs, rolled up."""
        params = {"story_id": story_id}
        story, calls, runs = await self._store.read_many(
            [(STORY, params), (LLM_CALLS, params), (WORKSPACE_RUNS, params)]
        )
        if not story:
            raise StoryNotFound(f"story {story_id!r} is not in the context graph")
        records = [
            CallUsage(
                id=row["id"],
                kind=row.get("kind") or "?",
                role=row.get("role"),
                task_id=row.get("task_id"),
                deliberation_id=row.get("deliberation_id"),
                agent_id=row.get("agent_id"),
                outcome=row.get("outcome"),
                prompt_tokens=int(row.get("prompt_tokens") or 0),
                completion_tokens=int(row.get("completion_tokens") or 0),
                llm_ms=float(row.get("llm_ms") or 0.0),
                calls=int(row.get("calls") or 0),
                at=row.get("at"),
            )
            for row in calls
        ]
        records += [
            CallUsage(
                id=row["id"],
                kind="workspace",
                role=row.get("role"),
                task_id=row.get("task_id"),
                deliberation_id=None,
                agent_id=None,
                outcome=row.get("outcome"),
                prompt_tokens=int(row.get("prompt_tokens") or 0),
                completion_tokens=int(row.get("completion_tokens") or 0),
                calls=int(row.get("steps") or 0),
                at=row.get("at"),
            )
            for row in runs
        ]
        return roll_up(story_id, sorted(records, key=lambda record: record.id))

    async def why(self, decision_id: str) -> DecisionWhy:
        """The rationale chain of one decision; raises DecisionNotFound."""
        rows = await self._store.read(DECISION_STORY, {"decision_id": decision_id})
        if not rows:
            raise DecisionNotFound(f"decision {decision_id!r} is not in the context graph")
        story_id = rows[0]["story_id"]
        decisions, council = await self._store.read_many(
            [(DECISIONS, {"story_id": story_id}), (DECISION_COUNCIL, {"decision_id": decision_id})]
        )
        deliberation = deliberation_facts(council[0], []) if council else None
        proposals = tuple(
            ProposalFacts(
                id=row["proposal_id"],
                agent_id=row.get("agent_id"),
                summary=row.get("summary"),
                content=row.get("content"),
                total_score=row.get("total_score"),
                selected=bool(row.get("selected")),
            )
            for row in council
            if row.get("proposal_id")
        )
        facts = tuple(decision_facts(row) for row in sorted(decisions, key=lambda r: r["id"]))
        return explain(story_id, decision_id, facts, deliberation, proposals)
