"""`GET /v1/graph/tasks/{task_id}`: what happened to one task, from the graph — its deliberation's
winner, its dispatch, the workspace's timeline of tool calls, the result (tests, diff), commits, its
QA reviews and its attempts (the task it reworks, the attempts that rework it: ADR 0703).

The same Cypher on Ladybug and Neo4j: flat patterns, explicit property lists.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from swe_fleet.graph.port import GraphStore
from swe_fleet.redaction import redact_value
from swe_fleet.security.api_auth import require_role
from swe_fleet.security.identity import Role

TASK = """
MATCH (t:Task {id: $task_id})
OPTIONAL MATCH (s:Story)-[:HAS_TASK]->(t)
RETURN t.id AS id, t.title AS title, t.description AS description, t.role AS role, t.status AS status,
       s.id AS story_id
"""

RESULT = """
MATCH (t:Task {id: $task_id})-[:HAS_RESULT]->(r:TaskResult)
RETURN r.outcome AS outcome, r.branch AS branch, r.summary AS summary, r.reason AS reason,
       r.tests_before_ok AS tests_before_ok, r.tests_after_ok AS tests_after_ok,
       r.failing_before AS failing_before, r.failing_after AS failing_after, r.files AS files,
       r.insertions AS insertions, r.deletions AS deletions, r.prompt_tokens AS prompt_tokens,
       r.completion_tokens AS completion_tokens, r.steps AS steps, r.patch AS patch, r.at AS at
"""

COMMITS = """
MATCH (t:Task {id: $task_id})-[:HAS_COMMIT]->(c:Commit)
RETURN c.id AS sha, c.message AS message, c.branch AS branch
"""

TOOL_CALLS = """
MATCH (t:Task {id: $task_id})-[:HAS_TOOL_CALL]->(c:ToolCall)
RETURN c.attempt AS attempt, c.step AS step, c.tool AS tool, c.arguments AS arguments,
       c.outcome AS outcome, c.output AS output, c.duration_ms AS duration_ms, c.at AS at
"""

DISPATCHES = """
MATCH (t:Task {id: $task_id})-[:HAS_DISPATCH]->(x:TaskDispatch)
RETURN x.agent_id AS agent_id, x.role AS role, x.proposal_id AS proposal_id, x.at AS at,
       x.rework_of AS rework_of, x.rework_reason AS rework_reason
"""

REVIEWS = """
MATCH (t:Task {id: $task_id})-[:HAS_REVIEW]->(r:Review)
RETURN r.id AS id, r.reviewer AS reviewer, r.verdict AS verdict, r.summary AS summary,
       r.findings AS findings, r.head AS head, r.checks AS checks, r.at AS at
"""

ATTEMPTS = """
MATCH (a:Task)-[:REWORKS]->(t:Task {id: $task_id})
RETURN a.id AS id
"""


async def task_execution(store: GraphStore, task_id: str) -> dict[str, Any] | None:
    params = {"task_id": task_id}
    task, result, commits, calls, dispatches, reviews, attempts = await store.read_many(
        [
            (TASK, params),
            (RESULT, params),
            (COMMITS, params),
            (TOOL_CALLS, params),
            (DISPATCHES, params),
            (REVIEWS, params),
            (ATTEMPTS, params),
        ]
    )
    if not task:
        return None
    timeline = sorted(calls, key=lambda c: (int(c.get("attempt") or 1), int(c.get("step") or 0)))
    return redact_value(
        {
            **task[0],
            "dispatches": sorted(dispatches, key=lambda d: d.get("at") or ""),
            "result": result[0] if result else None,
            "commits": commits,
            "timeline": timeline,
            "reviews": sorted(reviews, key=lambda r: r.get("at") or ""),
            "rework_of": next((d["rework_of"] for d in dispatches if d.get("rework_of")), None),
            "reworked_by": sorted(a["id"] for a in attempts),
        }
    )  # type: ignore[return-value]


def build_task_router(store: GraphStore) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get(
        "/graph/tasks/{task_id}",
        tags=["graph"],
        summary="A task's execution: timeline of tool calls, result (tests, diff), commits",
        responses={404: {"description": "the task is not in the graph"}},
        dependencies=[Depends(require_role(Role.VIEWER))],
    )
    async def get_task(task_id: str) -> Any:
        found = await task_execution(store, task_id)
        if found is None:
            raise HTTPException(404, f"task {task_id!r} is not in the context graph")
        return found

    return router
