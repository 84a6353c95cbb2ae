"""Projection handlers of the workspace's events: tool calls, task results, commits and QA reviews,
linked to the task.

The same rules as `projections.py`: deterministic ids (a task has one result, `TR-<task id>`; a commit
is its sha; a tool call takes its event's id; a review its `review_id`), the task and story only as
placeholders.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from swe_fleet.events import payloads as p
from swe_fleet.graph.schema import Label as L
from swe_fleet.graph.schema import Rel as R
from swe_fleet.graph.writes import NodeUpsert, RelMerge, Write

if TYPE_CHECKING:
    from swe_fleet.context.domain.projections import _Event

OUTPUT_CHARACTERS = 2000


def _task(story_id: str, task_id: str) -> list[Write]:
    return [
        NodeUpsert(L.STORY, story_id, placeholder=True),
        NodeUpsert(L.TASK, task_id, placeholder=True),
        RelMerge(R.HAS_TASK, L.STORY, story_id, L.TASK, task_id),
    ]


def tool_called(e: _Event, payload: p.WorkspaceToolCalled) -> tuple[list[Write], tuple[str, ...]]:
    call_id = f"TC-{e.id}"
    props = {
        "task_id": payload.task_id,
        "step": payload.step,
        "attempt": payload.attempt,
        "tool": payload.tool,
        "arguments": json.dumps(payload.arguments, sort_keys=True)[:OUTPUT_CHARACTERS],
        "outcome": str(payload.outcome),
        "output": payload.output[:OUTPUT_CHARACTERS],
        "duration_ms": payload.duration_ms,
        "at": e.at,
    }
    return [
        *_task(payload.story_id, payload.task_id),
        NodeUpsert(L.TOOL_CALL, call_id, props=props),
        RelMerge(R.HAS_TOOL_CALL, L.TASK, payload.task_id, L.TOOL_CALL, call_id),
    ], (payload.story_id,)


def _result(e: _Event, payload: p.WorkspaceTaskResult, outcome: str, reason: str) -> list[Write]:
    result_id = f"TR-{payload.task_id}"
    before, after = payload.tests_before, payload.tests_after
    props = {
        "task_id": payload.task_id,
        "story_id": payload.story_id,
        "outcome": outcome,
        "branch": payload.branch,
        "summary": payload.summary,
        "reason": reason,
        "tests_before_ok": before.ok if before else None,
        "tests_after_ok": after.ok if after else None,
        "failing_before": list(before.failing) if before else [],
        "failing_after": list(after.failing) if after else [],
        "files": list(payload.diff.files),
        "insertions": payload.diff.insertions,
        "deletions": payload.diff.deletions,
        "prompt_tokens": payload.usage.prompt_tokens,
        "completion_tokens": payload.usage.completion_tokens,
        "steps": payload.steps,
        "patch": payload.patch,
        "at": e.at,
    }
    writes: list[Write] = [
        *_task(payload.story_id, payload.task_id),
        NodeUpsert(L.TASK_RESULT, result_id, props=props),
        RelMerge(R.HAS_RESULT, L.TASK, payload.task_id, L.TASK_RESULT, result_id),
    ]
    for commit in payload.commits:
        commit_props = {
            "message": commit.message,
            "branch": payload.branch,
            "task_id": payload.task_id,
            "story_id": payload.story_id,
        }
        writes += [
            NodeUpsert(L.COMMIT, commit.sha, props=commit_props),
            RelMerge(R.HAS_COMMIT, L.TASK, payload.task_id, L.COMMIT, commit.sha),
        ]
    return writes


def task_completed(e: _Event, payload: p.WorkspaceTaskCompleted) -> tuple[list[Write], tuple[str, ...]]:
    return _result(e, payload, "completed", ""), (payload.story_id,)


def task_failed(e: _Event, payload: p.WorkspaceTaskFailed) -> tuple[list[Write], tuple[str, ...]]:
    return _result(e, payload, "failed", payload.reason), (payload.story_id,)


def review_completed(e: _Event, payload: p.WorkspaceReviewCompleted) -> tuple[list[Write], tuple[str, ...]]:
    """The review as a node of its task, linked to the result and the commit it judged (ADR 0703)."""
    review_id = payload.review_id
    props = {
        "task_id": payload.task_id,
        "story_id": payload.story_id,
        "reviewer": payload.reviewer,
        "verdict": payload.verdict.value,
        "summary": payload.summary[:OUTPUT_CHARACTERS],
        "findings": [finding[:OUTPUT_CHARACTERS] for finding in payload.findings[:20]],
        "head": payload.head,
        "checks": json.dumps([check.model_dump(mode="json") for check in payload.checks])[:OUTPUT_CHARACTERS],
        "at": e.at,
    }
    writes: list[Write] = [
        *_task(payload.story_id, payload.task_id),
        NodeUpsert(L.REVIEW, review_id, props=props),
        RelMerge(R.HAS_REVIEW, L.TASK, payload.task_id, L.REVIEW, review_id),
        NodeUpsert(L.TASK_RESULT, f"TR-{payload.task_id}", placeholder=True),
        RelMerge(R.REVIEWS, L.REVIEW, review_id, L.TASK_RESULT, f"TR-{payload.task_id}"),
    ]
    if payload.head:
        writes += [
            NodeUpsert(L.COMMIT, payload.head, placeholder=True),
            RelMerge(R.REVIEWS, L.REVIEW, review_id, L.COMMIT, payload.head),
        ]
    return writes, (payload.story_id,)
